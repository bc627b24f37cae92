#!/usr/bin/env bash
# The GPU run (see benchmarks/gpu.py): kernel tests on CUDA, supernet and mixed steps,
# training images/s, in one JSON file.
#   bash benchmarks/gpu.sh [--json PATH] [--only PART,...] [--list] [--dry-run]
# PYTHON picks the interpreter (default: python).
set -euo pipefail
exec "${PYTHON:-python}" "$(dirname "$0")/gpu.py" "$@"
