"""The prompt-only reflection baseline (Self-Refine style): no training at all.

The model is asked to reflect and retry by the same episode prompts R3 uses, so the evaluation of the
starting model *is* this baseline. ``train`` writes the starting model unchanged to ``out_dir/model``
(where the pipeline's evaluation stage looks for a trained model) and generates nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from reflectrl.config import RunConfig
from reflectrl.jsonl import atomic_write_json
from reflectrl.tasks import Task
from reflectrl.train.common import final_model_dir


def train_reflect_prompt(model, tokenizer, task: Task, failures, queries, cfg: RunConfig, out_dir, resume=True) -> Path:
    out = Path(out_dir)
    final = final_model_dir(out)
    if not (final / "config.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=".model."))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if final.exists():
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_json(
        out / "generated_tokens.json", {"generated_tokens": 0, "steps": 0, "budget": None, "train_seconds": 0.0}
    )
    return final
