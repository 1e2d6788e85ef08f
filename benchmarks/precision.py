"""Training precision on the machine at hand: a boost step and an R3 update step on the embedded model in
fp32 and in bf16 autocast over fp32 master weights (bf16-mixed), and the boost loss through TRL's fused
LM head (every position scored on a CPU) against ours (trained positions only).

    .venv/bin/python benchmarks/precision.py [--threads 2] [--steps 4] [--rounds 2]

Every case runs the same batches with forward, backward and an AdamW step; cases alternate within each
round so machine noise hits them alike, and the best round counts. Prints the CPU's flags first, and the
seconds per step with ratios to fp32. Record the output in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from reflectrl.config_file import load_config
from reflectrl.models import cpu_flags, cpu_has_fast_bf16, load_model
from reflectrl.tasks import get_task
from reflectrl.train.boost import CompletionSFTTrainer, boost_rows, completion_loss


def boost_batches(model, tok, n: int, out: str):
    """``n`` batches exactly as the default boost draws them (8 rows, grouped by length, 30% episodes)."""
    from datasets import Dataset
    from trl import SFTConfig

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "countdown-default.yaml")
    b = cfg.boost
    task = get_task(cfg.task.name, **cfg.task.options)
    rows = boost_rows(task, task.load("train")[: b.examples], cfg.episode, b.reflection_fraction, b.seed)
    args = SFTConfig(
        output_dir=out,
        per_device_train_batch_size=b.batch_size,
        completion_only_loss=True,
        max_length=b.max_length,
        train_sampling_strategy="group_by_length",
        report_to=[],
        use_cpu=True,
        seed=b.seed,
    )
    # Building the trainer also puts TRL's fused LM head on the model, as the boost does.
    trainer = CompletionSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    it = iter(trainer.get_train_dataloader())
    return [next(it) for _ in range(n)]


def r3_batch(tok, context: int = 236, trained: int = 64, rows: int = 8) -> dict[str, torch.Tensor]:
    """8 x 300 tokens: a query + failed attempt + reflection request as context, 64 reflection tokens trained
    (the default R3 step's shape; GRPOTrainer on a CPU scores it with the same fused head)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(100, len(tok) - 100, (rows, context + trained), generator=g)
    labels = ids.clone()
    labels[:, :context] = -100
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def trl_fused_loss(model, batch, count):
    return -model(**batch, fused_lm_head=True).log_probs.sum() / count


def step_seconds(model, optimizer, batches, loss_fn, bf16: bool) -> float:
    started = time.perf_counter()
    for batch in batches:
        count = (batch["labels"][:, 1:] != -100).sum()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast:
            loss = loss_fn(model, dict(batch), count)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - started) / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="Batches per case and round.")
    ap.add_argument("--rounds", type=int, default=2, help="Alternating rounds; the best counts.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bf16_flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}")
    print(f"bf16 flags: {bf16_flags or 'none'} (avx2: {'avx2' in cpu_flags()}); fast bf16: {cpu_has_fast_bf16()}")
    print(f"torch {torch.__version__}")

    model, tok = load_model(args.model, dtype="fp32", device="cpu", threads=args.threads)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7)  # tiny: the weights barely change across cases
    with tempfile.TemporaryDirectory() as tmp:
        boost = boost_batches(model, tok, args.steps, tmp)
    r3 = [r3_batch(tok)] * max(1, args.steps // 2)
    shapes = [tuple(b["input_ids"].shape) for b in boost]
    trained = sum(int((b["labels"][:, 1:] != -100).sum()) for b in boost) / len(boost)
    print(f"boost batches {shapes}, {trained:.0f} trained tokens per batch on average; r3 batch 8 x 300 (64 trained)")

    cases = {
        "boost, TRL fused head (before), fp32": (boost, trl_fused_loss, False),
        "boost, TRL fused head (before), bf16-mixed": (boost, trl_fused_loss, True),
        "boost, trained positions (ours), fp32": (boost, completion_loss, False),
        "boost, trained positions (ours), bf16-mixed": (boost, completion_loss, True),
        "r3 update 8x300, fp32": (r3, trl_fused_loss, False),
        "r3 update 8x300, bf16-mixed": (r3, trl_fused_loss, True),
    }
    step_seconds(model, optimizer, boost[:1], completion_loss, False)  # warm-up
    best = dict.fromkeys(cases, float("inf"))
    for r in range(args.rounds):
        for name, (batches, fn, bf16) in cases.items():
            best[name] = min(best[name], step_seconds(model, optimizer, batches, fn, bf16))
            print(f"round {r + 1}: {name:48s} {best[name]:7.2f} s/step", flush=True)

    print(f"\n{'case':48s} {'s/step':>8s} {'vs fp32':>8s}")
    for name, seconds in best.items():
        fp32 = best[name.rsplit(", ", 1)[0] + ", fp32"]
        print(f"{name:48s} {seconds:8.2f} {seconds / fp32:8.2f}")
    before, after = best["boost, TRL fused head (before), fp32"], best["boost, trained positions (ours), bf16-mixed"]
    print(f"boost step, TRL's fp32 / ours bf16-mixed: {before / after:.2f}x")


if __name__ == "__main__":
    main()
