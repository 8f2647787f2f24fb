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
exec "$CARGO_TARGET_DIR/debug/devtools" demo "$@"
