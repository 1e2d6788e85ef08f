#!/usr/bin/env bash
# Check the training precision policy on an isolated CUDA machine (no network): scripts/gpu_check.py
# builds a tiny random model, then runs boost (fp32 vs auto), R3 GRPO and an evaluation on the GPU.
#
#   scripts/gpu-check.sh [WHEEL_DIR] [gpu_check.py options, e.g. --device cpu]
#
# The repo is not pip-installed (its pins would reach for the network): it runs from the checkout through
# PYTHONPATH, with the torch, transformers, accelerate and peft the image already has. What a bare CUDA
# image usually lacks comes as wheels in WHEEL_DIR, installed with --no-index --no-deps into a separate
# folder (--target: works as root or not, leaves the image's packages alone, and PEP 668
# "externally managed" images accept it) that goes first on PYTHONPATH.
#
# Preparing WHEEL_DIR, on a networked machine with the device image's Python version and CPU architecture
# (pins from pyproject.toml; the rest are what they import, at the versions our .venv has):
#
#   pip download --no-deps --only-binary=:all: -d wheels \
#       trl==1.16.0 datasets==5.2.0 pydantic==2.14.3 pydantic-core==2.50.4 typer==0.29.2 rich==15.0.0 \
#       pyyaml==6.0.3 pyarrow==26.0.1 dill==0.4.1 multiprocess==0.70.19 xxhash==4.1.0 \
#       annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 shellingham==1.5.4 \
#       annotated-doc==0.0.7 markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.21.0
#
# and, only if the image has no pandas (datasets and trl import it): pandas==3.1.1 python-dateutil==2.9.0.post0
# six==1.17.0 (pandas 3 needs numpy >= 2.0.2; with numpy 1.x take pandas==2.3.3). From another Python or
# platform add, e.g.:
#   --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64
#
# All small except pyarrow (~40 MB) and pandas (~12 MB). datasets cannot be left out: boost and GRPO hand
# TRL's trainers a datasets.Dataset (Dataset.from_list in train/boost.py and train/rl.py), and trl itself
# requires datasets and pyarrow. reflectrl is written against transformers 5.x: if the image has 4.x, bring
# transformers==5.19.0 (and its huggingface-hub, tokenizers) too; the check prints every version first.
# huggingface-hub 2.x imports httpx2, httpcore2 and truststore, which images with hub 1.x lack.
#
# What ran on an NVIDIA H200 (2026-12-04; image: Python 3.12, torch 2.11.0+cu130, transformers 5.17.0, hub 1.x):
# the list above without pyarrow, pandas and the rich/markdown/pygments family (the image has them), plus
# transformers==5.19.0 huggingface-hub==2.4.0 tokenizers==0.23.3 httpx2==2.16.2 httpcore2==2.16.2 hf-xet==1.8.0
# truststore==0.10.5: 18 wheels, 26 MB (docs/results/gpu-check-h200/).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python3 || command -v python)}
SITE=${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/reflectrl-gpu-check-site}
pythonpath=$PWD

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    wheels=$1
    shift
    if [ ! -d "$wheels" ]; then
        echo "gpu-check: no such wheel folder: $wheels" >&2
        exit 2
    fi
    shopt -s nullglob
    files=("$wheels"/*.whl)
    if [ ${#files[@]} -eq 0 ]; then
        echo "gpu-check: no .whl files in $wheels" >&2
        exit 2
    fi
    echo "gpu-check: installing ${#files[@]} wheels from $wheels into $SITE (no network, no dependencies)"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --upgrade --target "$SITE" \
        "${files[@]}"
    for f in "${files[@]}"; do echo "  $(basename "$f")"; done
    pythonpath=$SITE:$pythonpath
elif [ -d "$SITE" ]; then
    echo "gpu-check: using the wheels installed earlier in $SITE"
    pythonpath=$SITE:$pythonpath
fi

echo "gpu-check: $("$PY" --version 2>&1) at $PY"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
export PYTHONPATH=$pythonpath${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PY" scripts/gpu_check.py "$@"
