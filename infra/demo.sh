#!/usr/bin/env bash
# README command 1: install what is missing, start LocalStack, then run the main job end to end
# (devtools demo: simulator or a real Tactical, functions under cargo lambda watch, dev bridge,
# connect, sync clients, map, sync devices, print assets by client and status, stop one simulated
# agent and print the status event it causes).
#
#   infra/demo.sh                                   against the built-in Tactical simulator
#   TACTICAL_URL=https://api.example.com TACTICAL_API_KEY=... infra/demo.sh    against a real Tactical
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=infra/lib.sh
. "$here/lib.sh"
cd "$TB_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/target}"

bash "$here/setup.sh"
bash "$here/localstack.sh" start
tb_aws_env
cargo build --workspace
"$CARGO_TARGET_DIR/debug/devtools" demo "$@"

# What the demo leaves behind, and how to go on from here.
cat <<EOF

Still running: LocalStack at $TB_LOCALSTACK_ENDPOINT (pid $(cat "$TB_LOCALSTACK_PID_FILE" 2>/dev/null || echo "?"),
log $TB_LOCALSTACK_LOG), holding the demo's data (stack tactical-bridge-demo, tenant demo-tenant).
The functions, the dev bridge and the simulator stopped with the demo.
  Stop LocalStack:    infra/localstack.sh stop

Keep exploring (the data stays until LocalStack stops):
  . infra/lib.sh && tb_aws_env
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port 9000 --ignore-changes --env-file .local/functions.env &
  TOKEN=\$("$CARGO_TARGET_DIR/debug/devtools" token --tenant demo-tenant --perm system_settings:read)
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:9000/lambda-url/sync-devices/assets?limit=5'
Function URLs: http://127.0.0.1:9000/lambda-url/<function>/<path>, functions: connection, sync-clients,
sync-devices, sync-alerts, sync-software, remote-actions (routes: docs/openapi.yaml).
Queue messages and schedules need the dev bridge: devtools bridge --env-file .local/functions.env
EOF
