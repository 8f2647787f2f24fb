# shellcheck shell=bash
# Shared paths for the local AWS stack and tools. Source it, don't run it:
#
#   . "$(git rev-parse --show-toplevel)/infra/lib.sh"      # or a path relative to your script
#
# Sets and exports (all paths absolute, computed from this file's location):
#   TB_ROOT                 repository root
#   TB_LOCAL                $TB_ROOT/.local (git-ignored install folder)
#   TB_LOCALSTACK_VENV      $TB_LOCAL/localstack-venv (localstack-core 4.8.1 + our moto DynamoDB plugin + boto3)
#   TB_LOCALSTACK_PY        python of that venv (has boto3/botocore, usable for test helpers)
#   TB_TOOLS_VENV           $TB_LOCAL/tools-venv (cargo-lambda, zig, cfn-lint)
#   TB_BIN                  $TB_LOCAL/bin: links to cargo-lambda, zig and cfn-lint only; put first on PATH
#   TB_CARGO_LAMBDA         $TB_BIN/cargo-lambda (use as `cargo lambda ...`)
#   TB_CFN_LINT             $TB_BIN/cfn-lint
#   TB_LOCALSTACK_PORT      from the environment, default 4566
#   TB_LOCALSTACK_ENDPOINT  http://127.0.0.1:$TB_LOCALSTACK_PORT
#   TB_LOCALSTACK_STATE     ${XDG_CACHE_HOME:-$HOME/.cache}/tactical-bridge/localstack (FILESYSTEM_ROOT,
#                           kept between runs and shared by clones: it holds LocalStack's service catalog cache;
#                           "localstack-<port>" for a port other than 4566, since LocalStack wipes its tmp/ there)
#   TB_LOCALSTACK_PID_FILE  $TB_LOCAL/localstack.pid   (localstack-<port>.pid for a port other than 4566)
#   TB_LOCALSTACK_LOG       $TB_LOCAL/localstack.log   (localstack-<port>.log likewise; previous run: .log.1)
#   PATH                    $TB_BIN prepended (once). Only those three tools are linked there, so
#                           python3/pip on PATH stay the caller's.
# Defines:
#   tb_aws_env              exports AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID/SECRET=test, AWS_REGION=us-east-1
#                           (and AWS_DEFAULT_REGION) for SDKs and CLIs aimed at the local stack.
#
# It does not change shell options and is safe under `set -euo pipefail`.

TB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TB_LOCAL="$TB_ROOT/.local"
TB_LOCALSTACK_VENV="$TB_LOCAL/localstack-venv"
TB_LOCALSTACK_PY="$TB_LOCALSTACK_VENV/bin/python"
TB_TOOLS_VENV="$TB_LOCAL/tools-venv"
TB_BIN="$TB_LOCAL/bin"
TB_CARGO_LAMBDA="$TB_BIN/cargo-lambda"
TB_CFN_LINT="$TB_BIN/cfn-lint"
TB_LOCALSTACK_PORT="${TB_LOCALSTACK_PORT:-4566}"
TB_LOCALSTACK_ENDPOINT="http://127.0.0.1:$TB_LOCALSTACK_PORT"
if [[ -n "${XDG_CACHE_HOME:-}" ]]; then
  TB_LOCALSTACK_STATE="$XDG_CACHE_HOME/tactical-bridge/localstack"
elif [[ -n "${HOME:-}" ]]; then
  TB_LOCALSTACK_STATE="$HOME/.cache/tactical-bridge/localstack"
else
  TB_LOCALSTACK_STATE="$TB_LOCAL/cache/localstack"
fi
if [[ "$TB_LOCALSTACK_PORT" == 4566 ]]; then
  TB_LOCALSTACK_PID_FILE="$TB_LOCAL/localstack.pid"
  TB_LOCALSTACK_LOG="$TB_LOCAL/localstack.log"
else
  TB_LOCALSTACK_STATE="$TB_LOCALSTACK_STATE-$TB_LOCALSTACK_PORT"
  TB_LOCALSTACK_PID_FILE="$TB_LOCAL/localstack-$TB_LOCALSTACK_PORT.pid"
  TB_LOCALSTACK_LOG="$TB_LOCAL/localstack-$TB_LOCALSTACK_PORT.log"
fi
export TB_ROOT TB_LOCAL TB_LOCALSTACK_VENV TB_LOCALSTACK_PY TB_TOOLS_VENV TB_BIN \
  TB_CARGO_LAMBDA TB_CFN_LINT TB_LOCALSTACK_PORT TB_LOCALSTACK_ENDPOINT TB_LOCALSTACK_STATE \
  TB_LOCALSTACK_PID_FILE TB_LOCALSTACK_LOG

case ":${PATH:-}:" in
  *":$TB_BIN:"*) ;;
  *) PATH="$TB_BIN${PATH:+:$PATH}" ;;
esac
export PATH

tb_aws_env() {
  export AWS_ENDPOINT_URL="$TB_LOCALSTACK_ENDPOINT"
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test
  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
}
