"""Check the training precision policy on a real accelerator, with a tiny random model and no network.

    python scripts/gpu_check.py                 # on the CUDA GPU (scripts/gpu-check.sh sets everything up)
    python scripts/gpu_check.py --device cpu    # smoke test; forces the CPU's bf16-mixed branch

What it checks (train/precision.py): the presets load; `precision: auto` resolves to bf16-mixed on a bf16 GPU
(fp16-mixed on older ones); boost and R3 GRPO keep fp32 master weights while a linear layer computes in the
autocast dtype; the auto boost update matches the fp32 one within 10%; nothing turns NaN/inf; the trained
model evaluates with the HF engine. Prints a summary table and exits 1 if any check failed.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import tomllib
import traceback
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
parser.add_argument("--out", default=None, help="work folder (default: a temp folder, deleted unless --keep)")
parser.add_argument("--keep", action="store_true", help="keep the work folder")
args = parser.parse_args()

# Before anything imports transformers or reflectrl: offline, and the CPU's fast-bf16 branch on request.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if args.device == "cpu":
    os.environ.setdefault("REFLECTRL_FAST_BF16", "1")  # exercise bf16-mixed on any CPU
sys.path.insert(0, str(ROOT))  # the repo is not pip-installed: its pins would reach for the network

# ----------------------------------------------------------------------------- versions
pins = {}
for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
    name, _, version = dep.partition("==")
    pins[name.strip()] = version.strip()
print(f"python {sys.version.split()[0]} ({sys.executable})")
print(f"{'package':<14}{'installed':<14}pinned")
for name in ["torch", "transformers", "accelerate", "peft", "trl", "datasets", "pydantic", "typer", "rich", "pyyaml"]:
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = "MISSING"
    pin = pins.get(name, "?")
    same = have.split("+")[0] == pin  # 2.13.0+cu128 is torch 2.13.0
    print(f"{name:<14}{have:<14}{pin}{'' if same else '   <- differs from the pin'}")

try:
    import datasets  # noqa: F401  (boost and GRPO build their data with Dataset.from_list)
    import torch
    import trl  # noqa: F401

    from reflectrl.config_file import load_config
    from reflectrl.evaluate import eval_identity, evaluate, format_summary
    from reflectrl.models import load_model
    from reflectrl.rollout import make_engine
    from reflectrl.rollout.episode import REFLECTION_PROMPT
    from reflectrl.tasks import get_task
    from reflectrl.tasks.countdown import solve
    from reflectrl.train import loop
    from reflectrl.train.boost import boost
    from reflectrl.train.pool import Mined
    from reflectrl.train.precision import resolve_precision
    from reflectrl.train.r3 import train_r3
except Exception as e:  # ImportError, or a package too old or too new for another
    print(f"\nFAIL: cannot import what the check needs: {type(e).__name__}: {e}")
    print("bring the missing wheels along and pass their folder: scripts/gpu-check.sh WHEEL_DIR (see its header)")
    sys.exit(2)

device = torch.device(args.device)
if device.type == "cuda":
    if not torch.cuda.is_available():
        sys.exit(f"FAIL: --device {args.device} but torch {torch.__version__} sees no CUDA GPU (use --device cpu)")
    props = torch.cuda.get_device_properties(device)
    print(f"GPU: {props.name}, capability {props.major}.{props.minor}, {props.total_memory / 2**30:.0f} GiB")
    native_bf16 = bool(torch.version.hip) or props.major >= 8  # Ampere and newer, or ROCm
    print(f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    print(f"torch.cuda.is_bf16_supported() {torch.cuda.is_bf16_supported()}, native bf16 {native_bf16}")
    print(f"tf32 matmul {torch.backends.cuda.matmul.allow_tf32}, tf32 cudnn {torch.backends.cudnn.allow_tf32}")
else:
    print(f"device cpu, REFLECTRL_FAST_BF16={os.environ.get('REFLECTRL_FAST_BF16')}")
# What `precision: auto` must mean here, worked out apart from the code under test. Older GPUs (compute
# capability < 8) count as bf16-capable in torch.cuda.is_bf16_supported() through slow emulation: not here.
if device.type == "cuda":
    expected = "bf16-mixed" if native_bf16 else "fp16-mixed"
else:
    expected = "bf16-mixed" if os.environ.get("REFLECTRL_FAST_BF16") == "1" else "fp32"
resolved = resolve_precision("auto", device)
autocast = {"bf16-mixed": "bfloat16", "fp16-mixed": "float16", "fp32": "float32"}[expected]
print(f"precision auto -> {resolved}, expected {expected} (a linear layer should compute in {autocast})")
work = Path(args.out or tempfile.mkdtemp(prefix="reflectrl-gpu-check-"))
work.mkdir(parents=True, exist_ok=True)
os.environ["REFLECTRL_CACHE"] = str(work / "cache")  # keep the user's cache out of it
print(f"work folder {work}\n")

results = []  # (check, ok, detail)


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return ok


def stage(name, fn):
    """Run one section; a crash is a failed check (with its traceback) and the next sections still run."""
    t0 = time.perf_counter()
    print(f"\n==== {name}")
    try:
        out = fn()
    except Exception as e:
        traceback.print_exc()
        check(f"{name} ran", False, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
        out = None
    print(f"---- {name}: {time.perf_counter() - t0:.1f}s")
    return out


def finite(tensors):
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def finite_logs(records):
    """(every logged loss and grad norm is finite, the losses); False when nothing was logged."""
    values = [r[k] for r in records for k in ("loss", "grad_norm") if isinstance(r.get(k), int | float)]
    losses = [round(r["loss"], 4) for r in records if isinstance(r.get("loss"), int | float)]
    return len(losses) > 0 and all(math.isfinite(v) for v in values), losses


def snapshot(model):
    return [p.detach().float().cpu().clone() for p in model.parameters()]


def update(model, start):
    """theta_after - theta_before, flat, fp32, on the CPU."""
    return torch.cat([(p.detach().float().cpu() - s).flatten() for p, s in zip(model.parameters(), start, strict=True)])


def dtypes(model):
    return sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})


check("auto resolves as documented", resolved == expected, f"auto -> {resolved} on {device}, want {expected}")


# ----------------------------------------------------------------------------- tiny random chat model
# tests/tiny.py: the test suite's tiny model and scripted engine (plain Python, no pytest needed).
sys.path.insert(0, str(ROOT / "tests"))
from tiny import ComputeDtypes, ScriptedEngine, boost_overrides, build_tiny_model, failures_of, lively  # noqa: E402

model_dir = build_tiny_model(work / "tiny-model")
task = get_task("countdown", train_size=40, test_size=8)


# ----------------------------------------------------------------------------- presets
def presets():
    paths = sorted([*ROOT.glob("configs/*.yaml"), *ROOT.glob("configs/presets/*.yaml")])
    for p in paths:
        cfg = load_config(p)
        print(f"  {p.relative_to(ROOT)}: train.precision={cfg.train.precision}, boost.precision={cfg.boost.precision}")
    check("presets load", len(paths) > 0, f"{len(paths)} configs")


stage("presets", presets)


# ----------------------------------------------------------------------------- boost: fp32 vs auto
def boost_run(precision, steps=4, lr=1e-5):
    """A few AdamW steps from the same weights on the same data (as tests/test_precision.py::_boost)."""
    model, tok = load_model(model_dir, dtype="fp32", device=args.device)
    start = snapshot(model)
    cfg = load_config(None, boost_overrides(precision, lr))
    seen = ComputeDtypes(model)
    out = work / f"boost-{precision}"
    boost(model, tok, task, task.load("train")[: 4 * steps], cfg.boost, cfg.episode, out)
    seen.handle.remove()
    logs = json.loads((out / "boost.json").read_text())["log_history"]
    return model, update(model, start), seen.train, logs


def boost_compare():
    _, d32, seen32, logs32 = boost_run("fp32")
    model, dauto, seen, logs = boost_run("auto")
    check("boost auto: fp32 master weights", dtypes(model) == ["float32"], f"params {dtypes(model)}")
    check("boost fp32: computes in fp32", seen32 == {"float32"}, f"linear output {sorted(seen32)}")
    check(f"boost auto: computes in {autocast}", seen == {autocast}, f"linear output {sorted(seen)}, want {autocast}")
    where = next(model.parameters()).device
    check("boost auto: trained on the device", where.type == device.type, f"params on {where}")
    ok32, loss32 = finite_logs(logs32)
    ok, loss = finite_logs(logs)
    check("boost: finite losses", ok32 and ok, f"fp32 {loss32[0]} -> {loss32[-1]}, auto {loss[0]} -> {loss[-1]}")
    check("boost: finite nonzero updates", finite([d32, dauto]) and d32.norm() > 0, f"||fp32 update|| {d32.norm():.3e}")
    ratio = (dauto.norm() / d32.norm()).item()
    cosine = torch.nn.functional.cosine_similarity(dauto, d32, dim=0).item()
    check("boost: auto update ~ fp32 update", 0.9 < ratio < 1.1, f"norm ratio {ratio:.4f}, cosine {cosine:.4f}")


stage(f"boost: fp32 vs auto ({resolved})", boost_compare)


# ----------------------------------------------------------------------------- R3 GRPO
r3_overrides = [
    "train.num_generations=2",
    "train.groups_per_step=2",
    "train.steps=2",
    "train.beta=0.001",
    "train.dynamic_sampling=false",  # a random model's rewards are flat: train them anyway, so losses are logged
    "train.learning_rate=1e-3",
    "train.precision=auto",
    "train.report_to=[none]",
    "train.save_steps=1000",
    "engine.name=hf",
    "episode.max_attempt_tokens=16",
    "episode.max_reflection_tokens=16",
    "episode.max_retry_tokens=16",
    "eval.limit=4",
    "eval.chunk_size=4",
]
r3_final = None


def r3_hf_engine():
    """train_r3 as `reflectrl run` calls it, generating with the real HF engine. A random model never solves
    countdown: rewards are flat and the update may be zero; this checks that the GPU path runs clean."""
    global r3_final
    cfg = load_config(None, r3_overrides)
    model, tok = load_model(model_dir, dtype="fp32", device=args.device)
    seen = ComputeDtypes(model)
    mined = Mined(failures=failures_of(task, task.load("train")[:2]))
    r3_final = train_r3(model, tok, task, mined, cfg, work / "r3-hf")
    seen.handle.remove()
    check("r3 hf: fp32 master weights", dtypes(model) == ["float32"], f"params {dtypes(model)}")
    detail = f"linear output {sorted(seen.train)}; rollouts generated in {sorted(seen.generate)}"
    check(f"r3 hf: computes in {autocast}", seen.train == {autocast}, detail)
    # Rollouts inside training run under the trainer's autocast (docs/SCALING.md, "Precision on GPUs").
    check(f"r3 hf: rollouts in {autocast}", seen.generate == {autocast}, detail)
    metrics = [json.loads(line) for line in (work / "r3-hf" / "metrics.jsonl").read_text().splitlines() if line]
    ok, loss = finite_logs(metrics)
    rewards = [m["reward"] for m in metrics if "reward" in m]
    check("r3 hf: finite losses and weights", ok and finite(model.parameters()), f"losses {loss}, rewards {rewards}")


stage("r3: train_r3 with the HF engine", r3_hf_engine)


def r3_scripted():
    cfg = load_config(None, [*r3_overrides, "train.steps=1"])
    examples = task.load("train")[:2]

    def script(last_user, text, k):  # one good and one bad reflection per group; the good one's retry succeeds
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        answer = solve(ex["nums"], ex["target"]) if "good plan" in text else "1"
        return f"<answer> {answer} </answer>"

    model, tok = load_model(model_dir, dtype="fp32", device=args.device)
    start = snapshot(model)
    real_engine = loop._engine
    loop._engine = lambda cfg, policy, tokenizer: ScriptedEngine(tok, script)
    seen = ComputeDtypes(model)
    try:
        train_r3(model, tok, task, Mined(failures=failures_of(task, examples)), cfg, work / "r3-scripted")
    finally:
        loop._engine = real_engine
        seen.handle.remove()
    check("r3 scripted: fp32 master weights", dtypes(model) == ["float32"], f"params {dtypes(model)}")
    check(f"r3 scripted: computes in {autocast}", seen.train == {autocast}, f"linear output {sorted(seen.train)}")
    delta = update(model, start)
    metrics = [json.loads(line) for line in (work / "r3-scripted" / "metrics.jsonl").read_text().splitlines() if line]
    ok, loss = finite_logs(metrics)
    rewards = [m["reward"] for m in metrics if "reward" in m]
    trained = [m.get("groups_trained") for m in metrics]
    detail = f"||update|| {delta.norm():.3e}, losses {loss}, rewards {rewards}, groups trained {trained}"
    check("r3 scripted: finite nonzero update", ok and finite([delta]) and delta.norm() > 0, detail)


stage("r3: one GRPO step with a reward difference (scripted engine)", r3_scripted)


# ----------------------------------------------------------------------------- evaluate the R3 model
def evaluate_r3():
    if r3_final is None:
        check("eval ran", False, "no R3 model to evaluate (r3 hf failed)")
        return
    cfg = load_config(None, r3_overrides)
    model, tok = load_model(str(r3_final), dtype="auto", device=args.device)  # inference copy in model.dtype=auto
    print(f"  inference dtype {model.dtype}")
    check("eval: trained weights finite", finite(model.parameters()), str(r3_final))
    engine = make_engine(cfg.engine, model, tok)
    summary = evaluate(engine, task, cfg.eval, cfg.episode, work / "eval", eval_identity(cfg, str(r3_final)))
    print(format_summary(summary, f"  eval (test, n={summary['n']})"))
    check("eval: all problems evaluated", summary["n"] == cfg.eval.limit, f"n={summary['n']}, {engine.mode} engine")


stage("evaluate the R3 model with the HF engine", evaluate_r3)


# ----------------------------------------------------------------------------- the HF engine's own loop
def hf_engine_on_device():
    """The fast loop (slots, prefix store) against model.generate, and score (expected retry reward) from the prefix
    store against from scratch, on the device: tests/test_engines.py's checks, which the CPU suite runs. float64
    weights large enough that greedy output depends on the context, so batching cannot flip an argmax."""
    from reflectrl.rollout.chat import turn_glue
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.hf import HFEngine

    model, tok = load_model(model_dir, dtype="fp32", device=args.device)
    model, prompts, eos = lively(model, tok)
    greedy = Sampling(max_new_tokens=16, temperature=0)
    naive = HFEngine(model, tok, batch_size=1, mode="naive")
    naive.eos_ids |= eos
    ids = [[s.token_ids for s in samples] for samples in naive.generate(prompts, 1, greedy)]
    for batch_size in (2, 32):
        fast = HFEngine(model, tok, batch_size=batch_size)
        fast.eos_ids = set(naive.eos_ids)
        out = fast.generate(prompts, 3, greedy)
        same = all([s.token_ids for s in o] == [r[0]] * 3 for o, r in zip(out, ids, strict=True))
        check(
            f"hf engine: fast greedy == model.generate (batch {batch_size})",
            fast.mode == "fast" and same,
            f"{fast.mode} mode, lengths {sorted({len(r[0]) for r in ids})}",
        )

    model = model.float()
    warm, cold = HFEngine(model, tok, batch_size=4), HFEngine(model, tok, batch_size=4, prefix_cache_gb=0)
    warm.eos_ids, cold.eos_ids = set(naive.eos_ids), set(naive.eos_ids)
    hot = Sampling(max_new_tokens=12, temperature=0.7)
    first = warm.generate(prompts, 1, hot, seed=3)
    gap = max(
        abs(warm.score(p, [s[0].token_ids], 0.7)[0] - sum(s[0].logprobs)) for p, s in zip(prompts, first, strict=True)
    )
    check("hf engine: score == the sampler's log-prob", gap < 1e-3, f"largest gap {gap:.2e}")
    follow = [
        p + s[0].token_ids + turn_glue(tok, "Try again.", s[0].token_ids[-1] if s[0].finished else None)
        for p, s in zip(prompts, first, strict=True)
    ]
    continuations, ends = [[5, 6, 7], [8], [9, 10, 11, 12]], sorted(warm.eos_ids)
    worst = 0.0
    for ctx in follow:
        each = cold.score(ctx, [c + [e] for c in continuations for e in ends], 0.7)
        want = torch.tensor(each).view(3, len(ends)).logsumexp(1)
        got = torch.tensor(warm.score(ctx, continuations, 0.7, ends))
        worst = max(worst, (got - want).abs().max().item())
    hits = warm.stats["scored_cached_tokens"]
    check(
        "hf engine: score from the prefix store == from scratch",
        worst < 1e-3 and hits > 0,
        f"largest gap {worst:.2e}, {hits} prompt tokens from the store",
    )


stage("the HF engine's fast loop and scoring on the device", hf_engine_on_device)

# ----------------------------------------------------------------------------- summary
if device.type == "cuda":
    print(f"\npeak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")
failed = [r for r in results if not r[1]]
width = max(len(name) for name, _, _ in results)
print(f"\n{'check':<{width}}  result  detail")
for name, ok, detail in results:
    print(f"{name:<{width}}  {'ok' if ok else 'FAIL':<6}  {detail}")
print(f"\n{len(results) - len(failed)}/{len(results)} checks passed on {device} ({resolved})")
if failed:
    print("FAILED: " + "; ".join(name for name, _, _ in failed))
if failed or args.keep or args.out:
    print(f"work folder kept: {work}")
else:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
