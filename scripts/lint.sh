#!/usr/bin/env bash
# The lint tier (npm test; alone: npm run lint): eslint and prettier on the TypeScript, ruff
# (lint and format) on all Python, mypy and import-linter (its layers, trainer/.importlinter) on
# the trainer package. Runs every check, so one run shows everything, and fails if any did.
# --fix rewrites instead of checking (npm run format): prettier, eslint --fix, ruff --fix and
# ruff format. Configs: eslint.config.mjs, .prettierrc.json, ruff.toml, trainer/pyproject.toml.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Globs, quoted for the tools to expand: a folder would make prettier check the JSON and YAML in it too.
TS=('src/**/*.ts' 'workflows/**/*.ts' 'activities/**/*.ts' 'workers/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' eslint.config.mjs)
BIN=node_modules/.bin
# Caches keyed by file content (eslint here runs without type information, so a file's result
# depends on it alone): a second run only reads what changed.
CACHE=node_modules/.cache/finetune-lint
FIX=0
[ "${1:-}" = --fix ] && FIX=1

FAILED=()
check() {
  local name=$1
  shift
  echo "--- $name"
  "$@" || FAILED+=("$name")
}

if [ "$FIX" -eq 1 ]; then
  check prettier "$BIN/prettier" --write --log-level warn "${TS[@]}"
  check eslint "$BIN/eslint" --fix --cache --cache-location "$CACHE/eslint/" "${TS[@]}"
  check ruff .venv/bin/ruff check --fix .
  check ruff-format .venv/bin/ruff format .
else
  check eslint "$BIN/eslint" --max-warnings 0 --cache --cache-location "$CACHE/eslint/" "${TS[@]}"
  check prettier "$BIN/prettier" --check --log-level warn --cache --cache-location "$CACHE/prettier" "${TS[@]}"
  check ruff .venv/bin/ruff check --output-format concise .
  check ruff-format .venv/bin/ruff format --check --output-format concise .
fi
check mypy bash -c 'cd trainer && ../.venv/bin/mypy -p durable_finetune'
# No cache: the whole package takes a fraction of a second, and none is left in trainer/.
check import-linter bash -c 'cd trainer && ../.venv/bin/lint-imports --no-cache --no-logo'

if [ "${#FAILED[@]}" -ne 0 ]; then
  echo "lint: failed: ${FAILED[*]} (npm run format rewrites what prettier and ruff format flag)"
  exit 1
fi
echo "lint: eslint, prettier, ruff, ruff format, mypy and import-linter passed"
