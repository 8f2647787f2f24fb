#!/usr/bin/env bash
# README command 2: install what is missing, start what the tests need (LocalStack), run every
# check and test, stop what it started. Exit code is the tests' verdict.
#
#   infra/test.sh            fmt, clippy, cfn-lint, all tests
#   TB_TEST_ARGS='-- name'   extra arguments for cargo test
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=infra/lib.sh
. "$here/lib.sh"
cd "$TB_ROOT"

# The cargo target directory lives outside the clone so later runs (and CI's fresh clones) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "setup (python tools into .local/)"
bash "$here/setup.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cfn-lint template.yaml"
"$TB_CFN_LINT" template.yaml

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

started_localstack=0
cleanup() {
  if [[ "$started_localstack" == 1 ]]; then
    bash "$here/localstack.sh" stop || true
  fi
}
trap cleanup EXIT

step "LocalStack"
if bash "$here/localstack.sh" status >/dev/null 2>&1; then
  echo "LocalStack already running at $TB_LOCALSTACK_ENDPOINT; using it"
else
  bash "$here/localstack.sh" start
  started_localstack=1
fi
tb_aws_env

step "cargo test --workspace"
log="$TB_LOCAL/test-output.log"
set +e
# shellcheck disable=SC2086
cargo test --workspace --locked ${TB_TEST_ARGS:-} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one result line per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\nsummary: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
