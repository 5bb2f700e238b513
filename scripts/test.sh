#!/usr/bin/env bash
# Runs every test tier in order, keeps going after a failure so one run shows
# everything that is broken, then prints a summary and fails if any tier did.
# FINETUNE_TEST_ONLY=lint|python|unit|workflow|integration|container (comma-separated) runs a subset.
# The lint tier (scripts/lint.sh, npm run lint): eslint, prettier, ruff, ruff format and mypy.
# The extended tier (test/extended: more real-trainer runs on the dev server, minutes each) is
# not in the default set, which must stay under 25 minutes: FINETUNE_TEST_ONLY=extended runs it
# (npm run test:extended).
# The container tier needs root: it starts the docker daemon (scripts/trainer-image.sh) and
# builds the trainer image, which counts in its time; a machine where that cannot happen
# fails the tier, naming why.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NODE=node_modules/.bin/node
ONLY="${FINETUNE_TEST_ONLY:-lint,python,unit,workflow,integration,container}"
for tier in ${ONLY//,/ }; do
  case "$tier" in
    lint | python | unit | workflow | integration | container | extended) ;;
    *) echo "test: unknown tier '$tier' in FINETUNE_TEST_ONLY; use lint, python, unit, workflow, integration, container or extended" >&2; exit 2 ;;
  esac
done

declare -a SUMMARY=()
FAILED=0

wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

has_tests() { [ -n "$(find "$1" -name '*.test.js' -type f -print -quit 2>/dev/null)" ]; }

run_tier() {
  local tier=$1
  shift
  local start rc=0
  start=$(date +%s%3N)
  echo "=== $tier tests ==="
  "$@" || rc=$?
  local took=$(($(date +%s%3N) - start))
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '  %-12s passed   %d.%03ds' "$tier" $((took / 1000)) $((took % 1000)))")
  else
    FAILED=1
    SUMMARY+=("$(printf '  %-12s FAILED   %d.%03ds (exit %d)' "$tier" $((took / 1000)) $((took % 1000)) "$rc")")
  fi
}

skip_tier() { SUMMARY+=("$(printf '  %-12s skipped  (%s)' "$1" "$2")"); }

python_tests() {
  PYTHONPATH="trainer${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/python -m pytest -q --durations=12 -m "${1:-not extended}" trainer/tests
  local rc=$?
  # pytest exits 5 when it collected nothing: an empty folder is not a failure.
  [ "$rc" -eq 5 ] && { echo "(no python tests collected)"; return 0; }
  return "$rc"
}

# A per-test timeout turns a hung test into a named failure instead of a CI run that never ends.
node_tests() {
  local dir=$1 timeout_ms=$2
  shift 2
  "$NODE" --test --test-reporter=spec --test-timeout="$timeout_ms" "$@" "$dir/**/*.test.js"
}

# The real docker daemon and trainer image, then the tests that run it. A daemon this tier
# started is stopped again; one that was running is left alone.
container_tests() {
  local daemon rc=0
  if ! daemon=$(bash scripts/trainer-image.sh ensure-daemon); then
    echo "container tier: the docker daemon is not available (the reason is above); these tests need it and are not skipped"
    return 1
  fi
  if bash scripts/trainer-image.sh build >/dev/null; then
    node_tests dist/test/container 1800000 --test-concurrency=1 || rc=$?
  else
    echo "container tier: the trainer image did not build (the reason is above)"
    rc=1
  fi
  if [ -n "$daemon" ]; then
    kill "$daemon" 2>/dev/null
    # Gone or a zombie (it is not our child: init reaps it).
    for _ in $(seq 1 150); do [[ "$(cat "/proc/$daemon/stat" 2>/dev/null)" =~ \)\ [RSDT] ]] || break; sleep 0.2; done
  fi
  return "$rc"
}

# The Python tier trains for minutes while the unit and workflow tiers mostly wait on a
# test server: run them side by side, the Python output printed whole when it ends.
PY_LOG=""
if wanted python; then
  if [ -d trainer/tests ]; then
    PY_LOG=$(mktemp)
    PY_START=$(date +%s%3N)
    python_tests >"$PY_LOG" 2>&1 &
    PY_PID=$!
  else
    skip_tier python "no trainer/tests"
  fi
fi
if wanted lint; then
  run_tier lint bash scripts/lint.sh
fi
if wanted unit; then
  if has_tests dist/test/unit; then run_tier unit node_tests dist/test/unit 60000; else skip_tier unit "no dist/test/unit"; fi
fi
if wanted workflow; then
  if has_tests dist/test/workflow; then run_tier workflow node_tests dist/test/workflow 300000; else skip_tier workflow "no dist/test/workflow"; fi
fi
if [ -n "$PY_LOG" ]; then
  if wait "$PY_PID"; then py_rc=0; else py_rc=$?; fi
  took=$(($(date +%s%3N) - PY_START))
  echo "=== python tests (ran beside the unit and workflow tiers) ==="
  cat "$PY_LOG"
  rm -f "$PY_LOG"
  if [ "$py_rc" -eq 0 ]; then
    SUMMARY+=("$(printf '  %-12s passed   %d.%03ds' python $((took / 1000)) $((took % 1000)))")
  else
    FAILED=1
    SUMMARY+=("$(printf '  %-12s FAILED   %d.%03ds (exit %d)' python $((took / 1000)) $((took % 1000)) "$py_rc")")
  fi
fi
if wanted integration; then
  # One at a time: integration tests share the dev server, ports and the CPU.
  if has_tests dist/test/integration; then
    run_tier integration node_tests dist/test/integration 1800000 --test-concurrency=1
  else
    skip_tier integration "no dist/test/integration"
  fi
fi

if wanted extended; then
  run_tier extended-python python_tests extended
  if has_tests dist/test/extended; then
    run_tier extended node_tests dist/test/extended 1800000 --test-concurrency=1
  else
    skip_tier extended "no dist/test/extended"
  fi
fi

if wanted container; then
  if has_tests dist/test/container; then run_tier container container_tests; else skip_tier container "no dist/test/container"; fi
fi

echo
echo "=== test summary ==="
printf '%s\n' "${SUMMARY[@]}"
if [ "$FAILED" -ne 0 ]; then
  echo "FAILED"
  exit 1
fi
echo "all passed"
