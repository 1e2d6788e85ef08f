#!/usr/bin/env bash
# The test suite, CPU only, no network. Sets up .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check reflectrl tests benchmarks
.venv/bin/python -m pytest -q "$@"
