#!/usr/bin/env bash
# Installs the local AWS stack and the Lambda/template tools into <repo>/.local (git-ignored).
# Idempotent: each step is skipped when a stamp file matches the hash of what it would install,
# so a second run takes about a second. Needs only Python 3.11 with venv/pip and the PyPI registry.
#
#   infra/setup.sh            install or verify everything
#   TB_PYTHON=/path/python3.11 infra/setup.sh    choose the interpreter (default: python3.11, else python3)
#   TB_SETUP_FORCE=1 infra/setup.sh              ignore stamps and reinstall into the existing venvs
#
# Result (paths exported by infra/lib.sh):
#   .local/localstack-venv  localstack-core[runtime]==4.8.1 pinned by infra/localstack/constraints.txt,
#                           plus infra/localstack/moto_dynamodb_provider (the "moto" DynamoDB provider)
#   .local/tools-venv       cargo-lambda + zig + cfn-lint, pinned by infra/localstack/requirements-tools.txt
#   .local/bin              links: cargo-lambda, zig, cfn-lint
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=infra/lib.sh
. "$here/lib.sh"

LOCALSTACK_REQ='localstack-core[runtime]==4.8.1'
CONSTRAINTS="$here/localstack/constraints.txt"
TOOLS_REQ="$here/localstack/requirements-tools.txt"
PLUGIN_SRC="$here/localstack/moto_dynamodb_provider"
PIP_FLAGS=(--disable-pip-version-check --no-input --quiet)

start_ts=$SECONDS
say() { printf 'setup: %s\n' "$*"; }
die() {
  printf 'setup: ERROR: %s\n' "$*" >&2
  exit 1
}

# ---- interpreter -------------------------------------------------------------------------------
find_python() {
  if [[ -n "${TB_PYTHON:-}" ]]; then
    printf '%s\n' "$TB_PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then
    command -v python3.11
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    return 1
  fi
}
PY="$(find_python)" || die "no python3.11/python3 on PATH (set TB_PYTHON)"
PY_VER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
  die "cannot run $PY"
# localstack-core 4.8.1 with these pins is only known to work on 3.11 (see docs in infra/localstack/README.md).
[[ "$PY_VER" == "3.11" ]] || die "need Python 3.11 for localstack-core 4.8.1, $PY is $PY_VER (set TB_PYTHON)"
"$PY" -c 'import venv, ensurepip' 2>/dev/null ||
  die "$PY lacks venv/ensurepip (Debian: apt-get install python3.11-venv)"

# ---- helpers -----------------------------------------------------------------------------------
hash_of() { # hash_of STRING FILE... -> sha256 of the string and the files' contents
  local s="$1"
  shift
  { printf '%s\n' "$s" "$PY_VER"; cat "$@"; } | sha256sum | cut -d' ' -f1
}

stamp_ok() { # stamp_ok NAME HASH VENV
  [[ "${TB_SETUP_FORCE:-0}" != 1 ]] &&
    [[ -x "$3/bin/python" ]] &&
    [[ -f "$TB_LOCAL/stamps/$1" ]] &&
    [[ "$(cat "$TB_LOCAL/stamps/$1")" == "$2" ]]
}

stamp_write() { mkdir -p "$TB_LOCAL/stamps" && printf '%s\n' "$2" >"$TB_LOCAL/stamps/$1"; }

ensure_venv() { # ensure_venv DIR: (re)create when missing or broken (e.g. moved or interpreter gone)
  local dir="$1"
  if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c 'import pip' >/dev/null 2>&1; then
    return 0
  fi
  say "creating $(basename "$dir")"
  rm -rf "$dir"
  "$PY" -m venv "$dir" || die "python -m venv $dir failed"
}

pip_in() { # pip_in VENV ARGS...
  local venv="$1"
  shift
  "$venv/bin/python" -m pip install "${PIP_FLAGS[@]}" "$@"
}

mkdir -p "$TB_LOCAL"

# ---- 1. LocalStack venv ------------------------------------------------------------------------
ls_hash="$(hash_of "$LOCALSTACK_REQ" "$CONSTRAINTS")"
if stamp_ok localstack "$ls_hash" "$TB_LOCALSTACK_VENV"; then
  say "localstack-venv: localstack-core 4.8.1 up to date"
else
  ensure_venv "$TB_LOCALSTACK_VENV"
  say "localstack-venv: installing $LOCALSTACK_REQ (fresh: ~1-2 min, ~500 MB)"
  t=$SECONDS
  rm -f "$TB_LOCAL/stamps/localstack" "$TB_LOCAL/stamps/moto-plugin"
  pip_in "$TB_LOCALSTACK_VENV" -c "$CONSTRAINTS" "$LOCALSTACK_REQ" ||
    die "pip install $LOCALSTACK_REQ failed (see pip output above)"
  "$TB_LOCALSTACK_PY" -c 'import localstack.runtime.main, boto3' ||
    die "localstack-core installed but does not import"
  stamp_write localstack "$ls_hash"
  say "localstack-venv: done in $((SECONDS - t)) s"
fi

# ---- 2. moto DynamoDB provider plugin (into the LocalStack venv) -------------------------------
mapfile -t plugin_files < <(cd "$PLUGIN_SRC" && find . -type f \( -name '*.py' -o -name '*.toml' \) \
  -not -path '*/build/*' -not -path '*.egg-info/*' | LC_ALL=C sort)
[[ ${#plugin_files[@]} -gt 0 ]] || die "plugin sources missing in $PLUGIN_SRC"
plugin_hash="$(cd "$PLUGIN_SRC" && hash_of "plugin" "${plugin_files[@]}")"
if stamp_ok moto-plugin "$plugin_hash" "$TB_LOCALSTACK_VENV"; then
  say "localstack-venv: moto DynamoDB provider up to date"
else
  say "localstack-venv: installing moto DynamoDB provider plugin"
  # Build from a scratch copy so setuptools' build/ and *.egg-info never land in the work tree.
  build_dir="$TB_LOCAL/build/moto_dynamodb_provider"
  rm -rf "$build_dir"
  mkdir -p "$build_dir"
  (cd "$PLUGIN_SRC" && cp --parents "${plugin_files[@]}" "$build_dir/")
  pip_in "$TB_LOCALSTACK_VENV" --no-deps --force-reinstall "$build_dir" ||
    die "installing the moto DynamoDB provider plugin failed"
  rm -rf "$build_dir"
  rmdir "$TB_LOCAL/build" 2>/dev/null || true
  "$TB_LOCALSTACK_PY" - <<'EOF' || die "plugin installed but its entry points are not visible"
from importlib.metadata import entry_points
names = {e.name for e in entry_points(group="localstack.aws.provider")}
assert "dynamodb:moto" in names and "secretsmanager:tb" in names, sorted(names)
import tb_moto_dynamodb.providers  # noqa: F401  (imports LocalStack's APIs)
import tb_moto_dynamodb.secretsmanager  # noqa: F401
EOF
  stamp_write moto-plugin "$plugin_hash"
fi

# ---- 3. tools venv: cargo-lambda (+ zig) and cfn-lint ------------------------------------------
tools_hash="$(hash_of "tools" "$TOOLS_REQ")"
if stamp_ok tools "$tools_hash" "$TB_TOOLS_VENV"; then
  say "tools-venv: cargo-lambda, cfn-lint up to date"
else
  ensure_venv "$TB_TOOLS_VENV"
  say "tools-venv: installing cargo-lambda, zig, cfn-lint (fresh: ~30-60 s)"
  t=$SECONDS
  rm -f "$TB_LOCAL/stamps/tools"
  pip_in "$TB_TOOLS_VENV" -r "$TOOLS_REQ" || die "pip install -r $TOOLS_REQ failed"
  stamp_write tools "$tools_hash"
  say "tools-venv: done in $((SECONDS - t)) s"
fi

# ---- 4. .local/bin links (cheap, always refreshed) ---------------------------------------------
zig_bin="$(echo "$TB_TOOLS_VENV"/lib/python3.*/site-packages/ziglang/zig)"
[[ -x "$zig_bin" ]] || die "zig binary not found in tools-venv (expected $zig_bin)"
mkdir -p "$TB_BIN"
ln -sfn "$TB_TOOLS_VENV/bin/cargo-lambda" "$TB_BIN/cargo-lambda"
ln -sfn "$TB_TOOLS_VENV/bin/cfn-lint" "$TB_BIN/cfn-lint"
# cargo-lambda looks for `zig` on PATH first (else `python3 -m ziglang`, which would need the tools
# venv's python3 on PATH); zig resolves its lib dir through the link, so a symlink is enough.
ln -sfn "$zig_bin" "$TB_BIN/zig"
for tool in cargo-lambda cfn-lint zig; do
  [[ -x "$TB_BIN/$tool" ]] || die "$TB_BIN/$tool is not executable"
done

say "ready in $((SECONDS - start_ts)) s: . infra/lib.sh puts $TB_BIN on PATH; infra/localstack.sh start"
