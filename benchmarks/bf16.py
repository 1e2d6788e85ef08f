"""bf16 vs fp32 on the CPU at hand: why GRPO "hung" in bf16 on AVX2-only CPUs (SPEC §3), and why
``dtype: auto`` picks fp32 there.

    .venv/bin/python benchmarks/bf16.py --threads 1

In one process, on the embedded default model, it times the three things a training step does in each
precision, alternating the two so machine noise hits both alike:

1. a matmul of the model's shape (576 x 1536), the kernel under everything else;
2. a decode step (batch 32, 200 cached tokens): generation, where R3 spends most of its time;
3. a forward + backward of a batch of 8 x 256 tokens: what the trainer does (fp32 weights with bf16
   autocast, which is what TRL's ``bf16=True`` turns on).

Prints milliseconds per call and the bf16 / fp32 time ratio. Record in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from reflectrl.models import cpu_has_fast_bf16, load_model


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pick kernels and allocate
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3, help="Alternating fp32/bf16 rounds; the best round counts.")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, fast bf16 detected: {cpu_has_fast_bf16()}"
    )

    model, _ = load_model(args.model, dtype="fp32")
    model.eval()
    cfg = model.config
    bf16_model, _ = load_model(args.model, dtype="bf16")
    bf16_model.eval()

    x = {d: torch.randn(256, cfg.hidden_size, dtype=d) for d in (torch.float32, torch.bfloat16)}
    w = {d: torch.randn(cfg.hidden_size, cfg.intermediate_size, dtype=d) for d in (torch.float32, torch.bfloat16)}

    def matmul(d):
        return lambda: x[d] @ w[d]

    def decode(m):
        ids = torch.randint(0, cfg.vocab_size, (32, 200))
        with torch.no_grad():
            past = m(ids, use_cache=True).past_key_values
        step = torch.randint(0, cfg.vocab_size, (32, 1))

        def run():
            with torch.no_grad():
                m(step, past_key_values=past, use_cache=True)
                past.crop(200)  # keep the cache length fixed across repeats

        return run

    batch = torch.randint(0, cfg.vocab_size, (8, 256))

    def train_step(autocast: bool):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = model(batch, labels=batch).loss
            loss.backward()
            model.zero_grad(set_to_none=True)

        return run

    cases = {
        "matmul 256x576 @ 576x1536": (matmul(torch.float32), matmul(torch.bfloat16), 50),
        "decode step, batch 32, 200 cached": (decode(model), decode(bf16_model), 5),
        "forward+backward, 8 x 256 tokens": (train_step(False), train_step(True), 2),
    }
    print(f"{'case':38s} {'fp32 ms':>10s} {'bf16 ms':>10s} {'bf16/fp32':>10s}")
    for name, (fp32_fn, bf16_fn, repeats) in cases.items():
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(args.rounds):
            best["fp32"] = min(best["fp32"], timed(fp32_fn, repeats))
            best["bf16"] = min(best["bf16"], timed(bf16_fn, repeats))
        print(f"{name:38s} {best['fp32']:10.1f} {best['bf16']:10.1f} {best['bf16'] / best['fp32']:10.2f}", flush=True)


if __name__ == "__main__":
    main()
