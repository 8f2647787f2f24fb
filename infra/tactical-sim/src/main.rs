//! `tactical-sim` binary: serve a simulated Tactical RMM 1.5.1 API for demos and benchmarks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tactical_sim::{ApiKey, FleetSpec, SimConfig, Simulator};

const USAGE: &str = "usage: tactical-sim [--addr 127.0.0.1:8000] [--seed N] [--clients N] [--sites-per-client N]
                   [--agents N] [--software-per-agent N] [--alerts N] [--api-key KEY]...
                   [--no-beta] [--dashboard] [--nats-down] [--checkin-secs 30]

Serves until SIGTERM / Ctrl-C. Without --api-key the default full-access key
SIMKEYFULLACCESS0000000000000001 is accepted.";

fn parse() -> Result<(SimConfig, SocketAddr, u64), String> {
    let mut cfg = SimConfig { fleet: FleetSpec::sized(3, 2, 50), ..SimConfig::default() };
    let mut addr: SocketAddr = "127.0.0.1:8000".parse().expect("valid default address");
    let mut keys: Vec<ApiKey> = Vec::new();
    let mut checkin_secs = 30;
    let mut args = std::env::args().skip(1);
    fn num(v: Option<String>, flag: &str) -> Result<usize, String> {
        v.ok_or_else(|| format!("{flag} needs a value"))?.parse().map_err(|e| format!("{flag}: {e}"))
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => {
                let v = args.next().ok_or("--addr needs a value")?;
                addr = v.parse().map_err(|e| format!("--addr: {e}"))?;
            }
            "--seed" => cfg.seed = num(args.next(), "--seed")? as u64,
            "--clients" => cfg.fleet.clients = num(args.next(), "--clients")?,
            "--sites-per-client" => cfg.fleet.sites_per_client = num(args.next(), "--sites-per-client")?,
            "--agents" => cfg.fleet.agents = num(args.next(), "--agents")?,
            "--software-per-agent" => cfg.fleet.software_per_agent = num(args.next(), "--software-per-agent")?,
            "--alerts" => cfg.fleet.alerts = num(args.next(), "--alerts")?,
            "--api-key" => keys.push(ApiKey::full(args.next().ok_or("--api-key needs a value")?)),
            "--no-beta" => cfg.beta_enabled = false,
            "--dashboard" => cfg.dashboard_mode = true,
            "--nats-down" => cfg.nats_up = false,
            "--checkin-secs" => {
                checkin_secs = num(args.next(), "--checkin-secs")?;
                if !(1..=3600).contains(&checkin_secs) {
                    return Err("--checkin-secs must be 1-3600".into());
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !keys.is_empty() {
        cfg.api_keys = keys;
    }
    Ok((cfg, addr, checkin_secs as u64))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (cfg, addr, checkin_secs) = match parse() {
        Ok(v) => v,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    let sim = match Simulator::start_on(cfg, addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("tactical-sim listening on {}", sim.base_url());
    // Agents that are online keep checking in, so their status does not decay during a demo.
    let state = sim.state();
    state.set_checkin_interval(time::Duration::seconds(checkin_secs as i64));
    let heartbeat = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(checkin_secs));
        tick.tick().await; // the first tick is immediate
        loop {
            tick.tick().await;
            state.checkin_online_agents();
        }
    });
    wait_for_signal().await;
    heartbeat.abort();
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
