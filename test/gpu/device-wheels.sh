#!/usr/bin/env bash
# Wheels for test/gpu/gpu_check.py on a machine with no network whose image already holds torch
# and the common libraries but not these (or other versions): trl and datasets (with dill and
# multiprocess), and the transformers, peft and tokenizers versions trainer/requirements.txt pins.
# Run here, where PyPI is reachable; then carry .whl to the GPU machine and run
#   python3 test/gpu/gpu_check.py --wheels .whl --out "$OUT/gpu.json"
# PYTHON_VERSION: the GPU machine's Python (default 3.12). About 19 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
py_version="${PYTHON_VERSION:-3.12}"
pin() { grep -E "^$1==" trainer/requirements.txt; }
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py_version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  "$(pin trl)" "$(pin datasets)" "$(pin transformers)" "$(pin peft)" "$(pin tokenizers)" \
  'dill<0.4.2,>=0.3.0' 'multiprocess<0.70.20'
ls -la .whl
