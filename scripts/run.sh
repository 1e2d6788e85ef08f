#!/usr/bin/env bash
# The main job on the embedded default model. Sets up .venv first. Extra arguments go to reflectrl.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TOKENIZERS_PARALLELISM=false
exec .venv/bin/reflectrl run --config configs/countdown-default.yaml "$@"
