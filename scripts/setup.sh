#!/usr/bin/env bash
# Brings a checkout to a runnable state: node_modules, the trainer's virtualenv,
# and dist/. Safe to run on every `npm run demo` / `npm test`: each step is
# skipped when its stamp says nothing changed, so the no-op path is fast.
# All output goes to stderr: `npm run demo -- --json` must end stdout with one
# JSON line.
set -euo pipefail
exec 1>&2
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BASE_PYTHON="${FINETUNE_PYTHON:-python3}"
NODE=node_modules/.bin/node
NODE_STAMP=node_modules/.finetune-setup.sha256
VENV_STAMP=.venv/.finetune-requirements.sha256
LINT_STAMP=.venv/.finetune-lint-requirements.sha256

now_ms() { date +%s%3N; }

# Runs one step and prints its name, outcome and duration on one line.
step() {
  local name=$1
  shift
  local start rc=0
  start=$(now_ms)
  "$@" || rc=$?
  local took=$(($(now_ms) - start))
  if [ "$rc" -ne 0 ]; then
    printf 'setup: %-14s FAILED (exit %d) after %d.%03ds\n' "$name" "$rc" $((took / 1000)) $((took % 1000))
    exit "$rc"
  fi
  printf 'setup: %-14s %-30s %d.%03ds\n' "$name" "${STEP_NOTE:-}" $((took / 1000)) $((took % 1000))
  STEP_NOTE=
}

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# Hashes, not mtimes: a fresh clone or a checkout gives every file a new mtime.
node_modules_step() {
  local want
  want=$(hash_of package-lock.json)
  if [ -x "$NODE" ] && [ -f "$NODE_STAMP" ] && [ "$(cat "$NODE_STAMP")" = "$want" ]; then
    STEP_NOTE="up to date"
  else
    command -v npm >/dev/null || { echo "setup: npm is not on PATH; install Node.js (any version with npm >= 9) first"; return 1; }
    npm ci --no-audit --no-fund
    echo "$want" >"$NODE_STAMP"
    STEP_NOTE="installed (npm ci)"
  fi
  # The product targets Node 22; the npm package `node` provides it locally.
  local major
  major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 22 ]; then
    echo "setup: $NODE is Node $major, but Node >= 22 is required; check the 'node' devDependency in package.json and rerun 'npm ci' (its install script must be allowed)"
    return 1
  fi
}

venv_step() {
  if [ ! -f trainer/requirements.txt ]; then
    STEP_NOTE="skipped (no trainer/requirements.txt)"
    return 0
  fi
  local want
  want=$(hash_of trainer/requirements.txt)
  if [ -x .venv/bin/python ] && [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$want" ]; then
    STEP_NOTE="up to date"
    return 0
  fi
  # The pinned packages (torch alone is gigabytes) are installed once per machine into a
  # virtualenv named by the requirements' hash, and each clone links .venv to it. Nothing
  # from this checkout is installed there: stages, tests and tools find the trainer
  # package through PYTHONPATH=trainer. FINETUNE_SHARED_VENV=0 keeps a private .venv.
  local venv=.venv
  if [ "${FINETUNE_SHARED_VENV:-1}" != 0 ]; then
    venv="${FINETUNE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-finetune}/venv-${want:0:16}"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.finetune-requirements.sha256" 2>/dev/null)" = "$want" ]; then
      rm -rf .venv && ln -s "$venv" .venv
      STEP_NOTE="linked $venv"
      return 0
    fi
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
  fi
  command -v "$BASE_PYTHON" >/dev/null || { echo "setup: $BASE_PYTHON not found; set FINETUNE_PYTHON to a Python >= 3.10"; return 1; }
  [ -x "$venv/bin/python" ] || "$BASE_PYTHON" -m venv "$venv"
  # FINETUNE_PIP_ARGS lets a CPU-only machine add e.g. --extra-index-url for torch wheels.
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --disable-pip-version-check -q ${FINETUNE_PIP_ARGS:-} -r trainer/requirements.txt
  echo "$want" >"$venv/.finetune-requirements.sha256"
  if [ "$venv" != .venv ]; then rm -rf .venv && ln -s "$venv" .venv; fi
  STEP_NOTE="installed (pip) into $venv"
}

# The lint tier's ruff, mypy and import-linter, and the tests' jsonschema (trainer/requirements-lint.txt), added to the venv above
# (shared or not) under their own stamp: pinning a new version installs two small packages.
lint_tools_step() {
  if [ ! -f trainer/requirements-lint.txt ] || [ ! -x .venv/bin/python ]; then
    STEP_NOTE="skipped (no requirements-lint or venv)"
    return 0
  fi
  local want
  want=$(hash_of trainer/requirements-lint.txt)
  if [ -f "$LINT_STAMP" ] && [ "$(cat "$LINT_STAMP")" = "$want" ]; then
    STEP_NOTE="up to date"
    return 0
  fi
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install --disable-pip-version-check -q ${FINETUNE_PIP_ARGS:-} -r trainer/requirements-lint.txt
  echo "$want" >"$LINT_STAMP"
  STEP_NOTE="installed (pip) ruff, mypy, import-linter, jsonschema"
}

build_step() {
  "$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
  # tsc never deletes output: drop compiled files whose source is gone, so a
  # removed test does not keep running from dist/.
  local js src
  while IFS= read -r js; do
    src=${js#dist/}
    src=${src%.js}.ts
    [ -f "$src" ] || rm -f "$js" "$js.map"
  done < <(find dist -name '*.js' -type f 2>/dev/null)
  STEP_NOTE="tsc -> dist/"
}

# The report test opens report.html in headless Chromium (Debian's package).
# Installed only when missing and apt-get can do it; otherwise setup goes on and
# says how, and that test fails naming what is missing.
browser_step() {
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    STEP_NOTE="chromium found"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    STEP_NOTE="installed chromium (apt-get)"
  else
    echo "setup: chromium is missing and apt-get (as root or passwordless sudo) is not available; install Chromium for the report test (test/unit/report-browser.test.ts)"
    STEP_NOTE="chromium missing"
  fi
}

total_start=$(now_ms)
STEP_NOTE=
step node_modules node_modules_step
step venv venv_step
step lint-tools lint_tools_step
step build build_step
step browser browser_step
total=$(($(now_ms) - total_start))
printf 'setup: %-14s %-30s %d.%03ds\n' done "" $((total / 1000)) $((total % 1000))
