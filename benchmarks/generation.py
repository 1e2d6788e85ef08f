"""Generation throughput of the HF engine on the episode's real workload (attempt x2, reflection, retry).

    .venv/bin/python benchmarks/generation.py --model default --problems 64
    .venv/bin/python benchmarks/generation.py --dtype fp32 --autocast bf16   # what rollouts inside training run

``--autocast bf16`` generates from fp32 weights under bf16 autocast: the trainer's bf16-mixed policy, which
rollouts during training use (train/loop.py), where eval and mine load bf16 weights (``--dtype auto``).
Prints tokens/s and sequences/s per stage and overall. Record results in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

from reflectrl.models import load_model
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.episode import EpisodePrompts, run_episodes
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none")
    args = ap.parse_args()

    t0 = time.time()
    model, tok = load_model(args.model, dtype=args.dtype)
    load_s = time.time() - t0
    task = get_task("countdown")
    examples = task.load("test")[: args.problems]
    engine = HFEngine(model, tok, batch_size=args.batch_size)
    stats = {"seqs": 0, "tokens": 0}

    def on_progress(seqs: int, tokens: int) -> None:
        stats["seqs"] += seqs
        stats["tokens"] += tokens

    s = Sampling(max_new_tokens=args.max_new_tokens, temperature=0.9)
    t0 = time.time()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast == "bf16"):
        records = run_episodes(engine, task, examples, EpisodePrompts(), s, s, s, seed=0, on_progress=on_progress)
    wall = time.time() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"model: {args.model} ({next(model.parameters()).dtype}, autocast {args.autocast}), load {load_s:.1f}s")
    print(f"problems: {len(records)}, failures reflected on: {sum(not r['first_try'] for r in records)}")
    print(f"sequences: {stats['seqs']}, new tokens: {stats['tokens']}, wall: {wall:.1f}s")
    tok_s, seq_s = stats["tokens"] / wall, stats["seqs"] / wall
    print(f"throughput: {tok_s:.1f} tok/s, {seq_s:.2f} seq/s, peak RSS {rss_gb:.2f} GB")


if __name__ == "__main__":
    main()
