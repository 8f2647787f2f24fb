//! Remote actions over NATS: command, script, reboot, scheduled reboot, ping. How long a
//! failure takes to answer is real time: it exists for the client's timeouts.

use std::time::Duration as StdDuration;

use axum::response::Response;
use rand::Rng;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::agents::*;
use super::auth::*;
use super::history::*;
use super::request::*;
use super::respond::*;
use crate::model::*;
use crate::state::{ActionWait, SimState};

pub(super) async fn action_wait(st: &SimState, realistic: StdDuration) {
    match st.action_wait() {
        ActionWait::Instant => {}
        ActionWait::Fixed(d) => tokio::time::sleep(d).await,
        ActionWait::Realistic => tokio::time::sleep(realistic).await,
    }
}

/// Whether the agent answers NATS requests at `t` (an online agent is connected).
pub(super) fn reachable(a: &crate::model::Agent, t: OffsetDateTime) -> bool {
    a.status(t) == AgentStatus::Online
}

pub(super) fn fake_cmd_output(a: &crate::model::Agent, shell: &str, cmd: &str) -> String {
    let nl = if a.plat == Plat::Windows { "\r\n" } else { "\n" };
    let c = cmd.trim();
    let lower = c.to_ascii_lowercase();
    if let Some(rest) = c.strip_prefix("echo ").or_else(|| c.strip_prefix("Write-Output ")) {
        return format!("{}{nl}", rest.trim().trim_matches('"').trim_matches('\''));
    }
    match lower.as_str() {
        "hostname" => format!("{}{nl}", a.hostname),
        "whoami" => {
            let u = if a.logged_in_username == "None" { "nt authority\\system" } else { &a.logged_in_username };
            format!("{u}{nl}")
        }
        _ => format!("[{}] {shell}: {c}{nl}exit status 0{nl}", a.hostname),
    }
}

pub(super) async fn agent_cmd(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, output, timeout, agent_pk, cmd) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let shell = match req(&data, "shell") {
            Ok(v) => py_str(v),
            Err(r) => return r,
        };
        let shell = if shell == "custom" {
            match req(&data, "custom_shell") {
                Ok(v) => py_str(v),
                Err(r) => return r,
            }
        } else {
            shell
        };
        let cmd = match req(&data, "cmd") {
            Ok(v) => py_str(v),
            Err(r) => return r,
        };
        let timeout = match req(&data, "timeout").and_then(py_int) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Err(r) = req(&data, "run_as_user") {
            return r;
        }
        (reachable(a, st.now()), fake_cmd_output(a, &shell, &cmd), timeout, a.pk, cmd)
    };
    let ran = st.nats_up() && host_ok;
    let user = p.username.clone().unwrap_or_else(|| "api".into());
    add_history(st, agent_pk, "cmd_run", Some(cmd), None, &user, ran.then(|| (output.clone(), String::new(), 0, 0.1)));
    if !st.nats_up() {
        action_wait(st, StdDuration::from_secs(4)).await;
        return ok("natsdown");
    }
    if !host_ok {
        action_wait(st, StdDuration::from_secs(timeout.max(0) as u64 + 2)).await;
        return notify_error("Unable to contact the agent");
    }
    ok(&output)
}

pub(super) async fn agent_runscript(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, agent_pk, script_ref, outcome, forget_msg, mode, timeout) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let script_id = match req(&data, "script") {
            Ok(v) => v,
            Err(r) => return r,
        };
        let script = match script_id.as_i64().or_else(|| script_id.as_str().and_then(|s| s.parse().ok())) {
            Some(id) => d.scripts.iter().find(|s| s.id == id),
            None => return server_error(),
        };
        let Some(script) = script else {
            return not_found("Script");
        };
        let mut vals = Vec::new();
        for k in ["output", "args", "run_as_user", "env_vars", "timeout"] {
            match req(&data, k) {
                Ok(v) => vals.push(v.clone()),
                Err(r) => return r,
            }
        }
        let output_mode = py_str(&vals[0]);
        let timeout = match py_int(&vals[4]) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let args: Vec<String> = vals[1].as_array().map(|v| v.iter().map(py_str).collect()).unwrap_or_default();
        let nl = if a.plat == Plat::Windows { "\r\n" } else { "\n" };
        // Script 9 fails: exit code 3 with a line on stderr.
        let outcome = if script.id == 9 {
            (format!("Checking disk space on {}{nl}", a.hostname), format!("C: is 97% full{nl}"), 3, 0.2481)
        } else {
            (
                format!("{} ran on {} with args [{}]{nl}exit status 0{nl}", script.name, a.hostname, args.join(", ")),
                String::new(),
                0,
                0.5123,
            )
        };
        (
            reachable(a, st.now()),
            a.pk,
            (script.id, script.name),
            outcome,
            format!("{} will now be run on {}", script.name, a.hostname),
            output_mode,
            timeout,
        )
    };
    // The view reads the mode's own keys after creating the history row (a KeyError is a 500).
    let ran = st.nats_up() && host_ok;
    let output = format!("{}{}", outcome.0, outcome.1);
    let user = p.username.clone().unwrap_or_else(|| "api".into());
    add_history(st, agent_pk, "script_run", None, Some(script_ref), &user, ran.then_some(outcome));
    {
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        match mode.as_str() {
            "email" => match req(&data, "emailMode") {
                Ok(m) if py_str(m) != "default" => {
                    if let Err(r) = req(&data, "emails") {
                        return r;
                    }
                }
                Ok(_) => {}
                Err(r) => return r,
            },
            "collector" => {
                for k in ["custom_field", "save_all_output"] {
                    if let Err(r) = req(&data, k) {
                        return r;
                    }
                }
            }
            _ => {}
        }
    }
    match mode.as_str() {
        "wait" | "collector" | "note" => {
            if !st.nats_up() {
                action_wait(st, StdDuration::from_secs(4)).await;
                return ok("natsdown");
            }
            if !host_ok {
                action_wait(st, StdDuration::from_secs(timeout.max(0) as u64 + 3)).await;
                return ok("timeout");
            }
            ok(&output)
        }
        _ => ok(&forget_msg),
    }
}

pub(super) async fn agent_reboot(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let host_ok = {
        let d = st.read();
        match scoped_agent(&d, p, agent_id) {
            Ok(a) => reachable(a, st.now()),
            Err(r) => return r,
        }
    };
    if !st.nats_up() || !host_ok {
        let wait = if st.nats_up() { 10 } else { 4 };
        action_wait(st, StdDuration::from_secs(wait)).await;
        return notify_error("Unable to contact the agent");
    }
    ok("ok")
}

/// `strptime(s, "%Y-%m-%dT%H:%M")`.
pub(super) fn parse_reboot_dt(s: &str) -> Option<time::PrimitiveDateTime> {
    let (date, tm) = s.split_once('T')?;
    let mut dp = date.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let mo: u8 = dp.next()?.parse().ok()?;
    let da: u8 = dp.next()?.parse().ok()?;
    if dp.next().is_some() {
        return None;
    }
    let (h, mi) = tm.split_once(':')?;
    if h.is_empty()
        || mi.is_empty()
        || h.len() > 2
        || mi.len() > 2
        || !h.bytes().chain(mi.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let date = time::Date::from_calendar_date(y, time::Month::try_from(mo).ok()?, da).ok()?;
    let t = time::Time::from_hms(h.parse().ok()?, mi.parse().ok()?, 0).ok()?;
    Some(time::PrimitiveDateTime::new(date, t))
}

/// Rough UTC offset (hours) of an agent time zone; DST ignored.
pub(super) fn tz_offset_hours(tz: &str) -> i64 {
    match tz {
        "America/Los_Angeles" => -8,
        "America/Denver" | "America/Phoenix" => -7,
        "America/Chicago" => -6,
        "America/New_York" | "America/Toronto" => -5,
        "America/Sao_Paulo" => -3,
        "Europe/London" | "UTC" | "Africa/Abidjan" => 0,
        "Europe/Berlin" | "Europe/Paris" | "Europe/Amsterdam" => 1,
        "Africa/Cairo" | "Africa/Johannesburg" => 2,
        "Asia/Dubai" => 4,
        "Asia/Kolkata" => 5,
        "Asia/Shanghai" | "Asia/Singapore" => 8,
        "Asia/Tokyo" => 9,
        "Australia/Sydney" => 10,
        "Pacific/Auckland" => 12,
        _ => 0,
    }
}

pub(super) async fn agent_sched_reboot(st: &SimState, ctx: &Ctx, p: &Principal, agent_id: &str) -> Response {
    if !role_allows(&p.role, Need::Act) {
        return forbidden();
    }
    let (host_ok, hostname, when) = {
        let d = st.read();
        let a = match scoped_agent(&d, p, agent_id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        if a.plat.is_posix() {
            return notify_error(&format!("Not currently implemented for {}", a.plat.as_str()));
        }
        let data = match ctx.data() {
            Ok(d) => d,
            Err(r) => return r,
        };
        let Some(when) = data.get("datetime").and_then(Value::as_str).and_then(parse_reboot_dt) else {
            return notify_error("Invalid date");
        };
        let utc = when.assume_utc() - Duration::hours(tz_offset_hours(a.timezone()));
        if utc < st.now() {
            return notify_error("Date cannot be set in the past");
        }
        (reachable(a, st.now()), a.hostname.clone(), when)
    };
    if !st.nats_up() {
        action_wait(st, StdDuration::from_secs(4)).await;
        return notify_error("natsdown");
    }
    if !host_ok {
        action_wait(st, StdDuration::from_secs(10)).await;
        return notify_error("timeout");
    }
    let suffix: String = {
        let mut d = st.write();
        const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        (0..10).map(|_| L[d.rng.random_range(0..L.len())] as char).collect()
    };
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (h12, ampm) = match when.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    let nice = format!(
        "{} {:02}, {} at {:02}:{:02} {}",
        months[when.month() as usize - 1],
        when.day(),
        when.year(),
        h12,
        when.minute(),
        ampm
    );
    ok(&json!({"time": nice, "agent": hostname, "task_name": format!("TacticalRMM_SchedReboot_{suffix}")}))
}

pub(super) fn agent_ping(st: &SimState, p: &Principal, agent_id: &str) -> Response {
    let d = st.read();
    let a = match scoped_agent(&d, p, agent_id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let status = if st.nats_up() && reachable(a, st.now()) { "online" } else { "offline" };
    ok(&json!({"name": a.hostname, "status": status}))
}
