#!/usr/bin/env bash
# LocalStack (localstack-core 4.8.1, host mode, no Docker) for local runs and CI.
#
#   infra/localstack.sh start    start in the background and wait until ready (no-op if already healthy)
#   infra/localstack.sh stop     SIGTERM, wait (bounded), SIGKILL as a last resort
#   infra/localstack.sh restart  stop + start
#   infra/localstack.sh status   exit 0 when running and healthy, 1 when not running, 2 when unhealthy
#   infra/localstack.sh logs     print the log (TB_LOG_LINES=N for the last N lines only)
#   infra/localstack.sh smoke    run infra/localstack/smoke.py against it (full DynamoDB/SQS/Secrets/Events check)
#   infra/localstack.sh env      print `export AWS_...=...` lines for clients (eval "$(infra/localstack.sh env)")
#
# Environment: TB_LOCALSTACK_PORT (default 4566), TB_LOCALSTACK_START_TIMEOUT (default 90 s),
# TB_LOCALSTACK_STOP_TIMEOUT (default 20 s). Needs infra/setup.sh to have run.
# Files: .local/localstack.pid, .local/localstack.log (previous run: .local/localstack.log.1);
# for a port other than 4566: .local/localstack-<port>.{pid,log}.
# State dir (FILESYSTEM_ROOT): ${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/localstack[-<port>].
# All these paths are exported by infra/lib.sh (TB_LOCALSTACK_PID_FILE, TB_LOCALSTACK_LOG, TB_LOCALSTACK_STATE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=infra/lib.sh
. "$here/lib.sh"

PID_FILE="$TB_LOCALSTACK_PID_FILE"
LOG_FILE="$TB_LOCALSTACK_LOG"
READY_PY="$here/localstack/smoke.py"
START_TIMEOUT="${TB_LOCALSTACK_START_TIMEOUT:-90}"
STOP_TIMEOUT="${TB_LOCALSTACK_STOP_TIMEOUT:-20}"
SERVICES="dynamodb,sqs,secretsmanager,events,sts"

if ! [[ "$TB_LOCALSTACK_PORT" =~ ^[0-9]+$ ]] || ((TB_LOCALSTACK_PORT < 1 || TB_LOCALSTACK_PORT > 65535)); then
  printf 'localstack: ERROR: TB_LOCALSTACK_PORT=%s is not a port number\n' "$TB_LOCALSTACK_PORT" >&2
  exit 64
fi

say() { printf 'localstack: %s\n' "$*"; }
err() { printf 'localstack: ERROR: %s\n' "$*" >&2; }

show_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    printf -- '----- last 40 lines of %s -----\n' "$LOG_FILE" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
    printf -- '-----\n' >&2
  fi
}

require_install() {
  if [[ ! -x "$TB_LOCALSTACK_PY" ]] || [[ ! -f "$TB_LOCAL/stamps/localstack" ]]; then
    err "LocalStack is not installed in $TB_LOCALSTACK_VENV: run infra/setup.sh first"
    exit 3
  fi
}

# pid of our LocalStack if the pid file names a live process that is ours, else nothing.
running_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against pid reuse: the process must be LocalStack's runtime
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main' || return 1
  printf '%s\n' "$pid"
}

# health: 0 = answers with all our services available/running, 1 = not answering / not ready.
healthy() {
  "$TB_LOCALSTACK_PY" "$READY_PY" --endpoint "$TB_LOCALSTACK_ENDPOINT" --services "$SERVICES" \
    --health-only >/dev/null 2>&1
}

port_in_use() { # bash's /dev/tcp: no curl/nc needed
  (exec 3<>"/dev/tcp/127.0.0.1/$TB_LOCALSTACK_PORT") 2>/dev/null
}

cmd_start() {
  require_install
  local pid t0 launched=0
  if pid="$(running_pid)"; then
    if healthy; then
      say "already running (pid $pid) at $TB_LOCALSTACK_ENDPOINT"
      return 0
    fi
    say "pid $pid is running but not healthy yet; waiting"
  else
    rm -f "$PID_FILE"
    if port_in_use; then
      err "127.0.0.1:$TB_LOCALSTACK_PORT is already in use by another process (not ours: no live pid file)."
      err "Stop it, or choose another port with TB_LOCALSTACK_PORT."
      exit 4
    fi
    mkdir -p "$TB_LOCALSTACK_STATE" "$TB_LOCAL"
    [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
    t0=$SECONDS
    # Settings: see infra/localstack/README.md. `env -u` drops a caller's AWS_ENDPOINT_URL etc. so
    # LocalStack's internal clients talk to itself, never to some endpoint inherited from a test env.
    (
      cd "$TB_LOCAL"
      exec env -u AWS_ENDPOINT_URL -u AWS_PROFILE \
        OVERRIDE_IN_DOCKER=0 \
        FILESYSTEM_ROOT="$TB_LOCALSTACK_STATE" \
        GATEWAY_LISTEN="127.0.0.1:$TB_LOCALSTACK_PORT" \
        LOCALSTACK_HOST="127.0.0.1:$TB_LOCALSTACK_PORT" \
        SQS_ENDPOINT_STRATEGY=path \
        DNS_ADDRESS=0 \
        DISABLE_EVENTS=1 \
        SKIP_SSL_CERT_DOWNLOAD=1 \
        SERVICES="$SERVICES" \
        STRICT_SERVICE_LOADING=1 \
        PROVIDER_OVERRIDE_DYNAMODB=moto \
        PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto \
        PROVIDER_OVERRIDE_SECRETSMANAGER=tb \
        SQS_DISABLE_CLOUDWATCH_METRICS=1 \
        PERSISTENCE=0 \
        DEBUG=0 \
        PYTHONUNBUFFERED=1 \
        nohup "$TB_LOCALSTACK_PY" -m localstack.runtime.main >>"$LOG_FILE" 2>&1 </dev/null
    ) &
    pid=$!
    disown "$pid" 2>/dev/null || true # no "Killed" job notices from this shell
    launched=1
    printf '%s\n' "$pid" >"$PID_FILE"
    say "starting (pid $pid) at $TB_LOCALSTACK_ENDPOINT, log $LOG_FILE"
  fi

  # Wait for /_localstack/health, then one real call per service (this also loads each provider,
  # so a broken plugin fails here and not in the first test). smoke.py exits early if pid dies.
  if ! "$TB_LOCALSTACK_PY" "$READY_PY" --endpoint "$TB_LOCALSTACK_ENDPOINT" --services "$SERVICES" \
    --wait "$START_TIMEOUT" --pid "$pid" --quick; then
    err "LocalStack did not become ready within ${START_TIMEOUT} s (or died)"
    show_log_tail
    # don't leave a half-started server behind (one we did not launch is left alone)
    # (it ignores SIGTERM while still starting up, hence the short grace period before SIGKILL)
    if [[ "$launched" == 1 ]]; then STOP_TIMEOUT=5 cmd_stop >&2 || true; fi
    exit 1
  fi
  say "ready${t0:+ in $((SECONDS - t0)) s}"
}

cmd_stop() {
  local pid i
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    err "pid $pid still alive after ${STOP_TIMEOUT} s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    if kill -0 "$pid" 2>/dev/null; then
      err "could not stop pid $pid"
      show_log_tail
      exit 1
    fi
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    return 1
  fi
  if healthy; then
    say "running (pid $pid) at $TB_LOCALSTACK_ENDPOINT, healthy"
    return 0
  fi
  say "running (pid $pid) but not healthy"
  return 2
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || {
    err "no log at $LOG_FILE"
    return 1
  }
  if [[ -n "${TB_LOG_LINES:-}" ]]; then
    tail -n "$TB_LOG_LINES" "$LOG_FILE"
  else
    cat "$LOG_FILE"
  fi
}

cmd_smoke() {
  require_install
  running_pid >/dev/null || {
    err "not running: infra/localstack.sh start"
    exit 1
  }
  "$TB_LOCALSTACK_PY" "$READY_PY" --endpoint "$TB_LOCALSTACK_ENDPOINT" --services "$SERVICES" "$@"
}

cmd_env() {
  printf 'export AWS_ENDPOINT_URL=%s\n' "$TB_LOCALSTACK_ENDPOINT"
  printf 'export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test\n'
  printf 'export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1\n'
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  smoke)
    shift
    cmd_smoke "$@"
    ;;
  env) cmd_env ;;
  *)
    printf 'usage: %s start|stop|restart|status|logs|smoke|env\n' "$0" >&2
    exit 64
    ;;
esac
