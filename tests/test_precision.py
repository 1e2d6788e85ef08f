"""The precision policy (train/precision.py): fp32 master weights in every trainer, bf16 autocast only
where bf16 is fast. Each hardware branch is forced here, so both run on any machine."""

import math
import os

import pytest
import torch
from conftest import ScriptedEngine
from tiny import ComputeDtypes, boost_overrides, failures_of
from transformers import TrainingArguments

from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.models import FAST_BF16_ENV, cpu_has_fast_bf16, load_model, pick_dtype
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task
from reflectrl.train.boost import boost
from reflectrl.train.common import final_model_dir
from reflectrl.train.precision import prepare_for_training, resolve_precision, training_arguments

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.mark.parametrize(
    "device, fast_cpu, cuda_bf16, expected",
    [
        (CPU, True, False, "bf16-mixed"),  # AMX / AVX512-BF16
        (CPU, False, False, "fp32"),  # AVX2 only
        (CUDA, False, True, "bf16-mixed"),  # Ampere and newer
        (CUDA, False, False, "fp16-mixed"),  # older GPUs: fp16 with a gradient scaler
    ],
)
def test_auto_is_a_fixed_rule_per_hardware(monkeypatch, device, fast_cpu, cuda_bf16, expected):
    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast_cpu else "0")
    # Before Ampere torch reports bf16 as supported through (slow) emulation unless asked for native support.
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: cuda_bf16 or including_emulation
    )
    assert resolve_precision("auto", device) == expected
    for explicit in ("fp32", "bf16-mixed", "fp16-mixed", "bf16-pure"):
        assert resolve_precision(explicit, device) == explicit


@pytest.mark.parametrize(
    "device, fast_cpu, cuda_bf16, expected",
    [(CPU, True, False, torch.bfloat16), (CPU, False, False, torch.float32)]
    + [(CUDA, False, True, torch.bfloat16), (CUDA, False, False, torch.float16)],
)
def test_auto_inference_dtype_is_a_fixed_rule_per_hardware(monkeypatch, device, fast_cpu, cuda_bf16, expected):
    """model.dtype auto: the weights every eval, mine and probe generate with."""
    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast_cpu else "0")
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: cuda_bf16 or including_emulation
    )
    assert pick_dtype("auto", device) == expected
    assert [pick_dtype(d, device) for d in ("fp32", "bf16", "fp16")] == [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("fast", [True, False], ids=["avx512-bf16", "avx2-only"])
def test_generation_and_scoring_on_each_cpu_branch(tiny_model_dir, monkeypatch, fast):
    """The fast engine (slot KV cache, prefix store, sampler) and its exact scoring, on the weights auto picks."""
    from reflectrl.rollout.chat import encode_chat
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.hf import HFEngine

    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast else "0")
    model, tok = load_model(str(tiny_model_dir), dtype="auto", device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16 if fast else torch.float32}
    prompts = [encode_chat(tok, [{"role": "user", "content": t}]) for t in ("a b c", "the numbers 1 2 3 4")]
    engine, sampling = HFEngine(model, tok, batch_size=3), Sampling(max_new_tokens=8, temperature=0.9)
    out = engine.generate(prompts, 2, sampling, seed=3)
    assert [len(samples) for samples in out] == [2, 2]
    ids = [s.token_ids for samples in out for s in samples]
    assert all(1 <= len(i) <= 8 and all(0 <= t < len(tok) for t in i) for i in ids)
    assert [[s.token_ids for s in samples] for samples in engine.generate(prompts, 2, sampling, seed=3)] == [
        [s.token_ids for s in samples] for samples in out
    ]  # seeded: the same samples again
    scores = engine.score(prompts[0], [ids[0], ids[1], [tok.eos_token_id]], temperature=0.9)
    assert len(scores) == 3 and all(math.isfinite(x) and x <= 0 for x in scores)


def test_detection_override_and_its_bad_value(monkeypatch):
    monkeypatch.setenv(FAST_BF16_ENV, "1")
    assert cpu_has_fast_bf16() is True
    monkeypatch.setenv(FAST_BF16_ENV, "0")
    assert cpu_has_fast_bf16() is False
    monkeypatch.setenv(FAST_BF16_ENV, "yes")
    with pytest.raises(ReflectrlError, match="REFLECTRL_FAST_BF16"):
        cpu_has_fast_bf16()


@pytest.mark.parametrize("key, old", [("train.precision", "bf16"), ("boost.precision", "fp16")])
def test_old_precision_values_name_the_new_ones(key, old):
    with pytest.raises(ReflectrlError) as e:
        load_config(None, [f"{key}={old}"])
    message = str(e.value)
    assert "\n" not in message and key in message
    assert f"{old}-mixed" in message and "bf16-pure" in message


def test_fp16_mixed_on_a_cpu_is_a_one_line_error(tiny_model_dir):
    model, _ = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    with pytest.raises(ReflectrlError, match=r"train.precision=fp16-mixed needs a CUDA GPU"):
        prepare_for_training(model, "fp16-mixed", "train.precision")


def test_a_refusal_by_transformers_names_our_setting(tmp_path):
    # The defect this policy fixes: bf16=True on a CPU without use_cpu. transformers raises a ValueError;
    # the user sees one line naming our setting and its value.
    if torch.cuda.is_available():
        pytest.skip("transformers accepts bf16 without use_cpu on a bf16 GPU")
    with pytest.raises(ReflectrlError) as e:
        training_arguments(
            TrainingArguments, "train.precision", "bf16-mixed", output_dir=str(tmp_path), bf16=True, use_cpu=False
        )
    assert "train.precision=bf16-mixed" in str(e.value) and "bf16" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("ours, mixed", [("fp32", "no"), ("bf16-mixed", "bf16")])
def test_our_precision_wins_over_the_launch_configs(tmp_path, monkeypatch, ours, mixed):
    # `accelerate launch` with a bf16 config exports ACCELERATE_MIXED_PRECISION=bf16 to every process.
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    args = training_arguments(
        TrainingArguments, "train.precision", ours, output_dir=str(tmp_path), bf16=ours == "bf16-mixed", use_cpu=True
    )
    assert args.mixed_precision == mixed
    assert os.environ["ACCELERATE_MIXED_PRECISION"] == "bf16"  # restored for whatever else the process runs


@pytest.mark.parametrize("precision", ["auto", "bf16-mixed", "fp32"])
def test_bf16_loaded_weights_become_fp32_masters(tiny_model_dir, monkeypatch, precision):
    monkeypatch.setenv(FAST_BF16_ENV, "1")
    model, _ = load_model(str(tiny_model_dir), dtype="bf16", device="cpu")
    flags = prepare_for_training(model, precision, "train.precision")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert flags == {"bf16": precision != "fp32", "fp16": False, "use_cpu": True}


def test_bf16_pure_trains_bf16_weights_and_warns(tiny_model_dir, capsys):
    model, _ = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    flags = prepare_for_training(model, "bf16-pure", "boost.precision")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert flags["bf16"] is False and flags["fp16"] is False
    assert "without fp32 masters" in capsys.readouterr().err


# ----------------------------------------------------------------------- real training, each branch


def _boost(tiny_model_dir, tmp_path, precision: str, steps: int = 4, lr: float = 1e-5):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    task = get_task("countdown", train_size=40, test_size=2)
    cfg = load_config(None, boost_overrides(precision, lr))
    dtypes = ComputeDtypes(model)
    folder = boost(model, tok, task, task.load("train")[: 4 * steps], cfg.boost, cfg.episode, tmp_path)
    dtypes.handle.remove()
    trained, _ = load_model(str(folder), dtype="fp32", device="cpu")
    if precision == "bf16-pure":  # the update starts from the weights rounded to bf16
        start = {n: p.to(torch.bfloat16).float() for n, p in start.items()}
    delta = torch.cat([(p.detach() - start[n]).flatten() for n, p in trained.named_parameters()])
    return model, delta, dtypes.train


@pytest.mark.parametrize("fast", [True, False], ids=["avx512-bf16", "avx2-only"])
def test_boost_on_each_cpu_branch(tiny_model_dir, tmp_path, monkeypatch, fast):
    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast else "0")
    model, delta, computed = _boost(tiny_model_dir, tmp_path, "auto", steps=2)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # fp32 masters throughout
    assert computed == ({"bfloat16"} if fast else {"float32"})  # autocast on exactly where bf16 is fast
    assert torch.isfinite(delta).all() and delta.abs().max() > 0


def test_bf16_mixed_update_matches_fp32_and_bf16_pure_rounds_it_away(tiny_model_dir, tmp_path):
    """Four AdamW steps at lr 1e-5 on the same data. With fp32 masters the bf16-autocast update is the fp32
    update up to bf16 noise in the gradient; on bf16 weights most of it rounds away (the defect)."""
    _, fp32, _ = _boost(tiny_model_dir, tmp_path / "fp32", "fp32")
    _, mixed, computed = _boost(tiny_model_dir, tmp_path / "mixed", "bf16-mixed")
    assert computed == {"bfloat16"}
    _, pure, _ = _boost(tiny_model_dir, tmp_path / "pure", "bf16-pure")
    ratio = mixed.norm() / fp32.norm()
    cosine = torch.nn.functional.cosine_similarity(mixed, fp32, dim=0)
    assert 0.9 < ratio < 1.1 and cosine > 0.9, (ratio, cosine)
    realised = pure.norm() / fp32.norm()
    assert realised < 0.7, realised
    print(f"bf16-mixed/fp32 update norm {ratio:.3f}, cosine {cosine:.3f}; bf16-pure/fp32 {realised:.3f}")


@pytest.mark.parametrize("fast", [True, False], ids=["avx512-bf16", "avx2-only"])
def test_r3_and_rise_train_on_each_cpu_branch(tiny_model_dir, tmp_path, monkeypatch, fast):
    import reflectrl.train.loop as loop
    import reflectrl.train.rise as rise
    from reflectrl.tasks.countdown import solve
    from reflectrl.train.pool import Mined
    from reflectrl.train.r3 import train_r3

    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast else "0")
    task = get_task("countdown", train_size=20, test_size=2)
    examples = task.load("train")[:2]
    failures = failures_of(task, examples)
    cfg = load_config(
        None,
        ["train.num_generations=2", "train.groups_per_step=2", "train.steps=1", "train.beta=0.001"]
        + ["train.report_to=[none]", "train.precision=auto", "train.learning_rate=1e-3"]
        + ["rise.rounds=2", "rise.turns=1", "rise.samples=2", "rise.batch_size=2", "episode.max_attempt_tokens=4"],
    )

    def script(last_user, text, k):  # one good and one bad reflection per group: a reward difference
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        return (
            f"<answer> {solve(ex['nums'], ex['target'])} </answer>" if "good plan" in text else "<answer> 1 </answer>"
        )

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    start = [p.detach().clone() for p in model.parameters()]
    monkeypatch.setattr(loop, "_engine", lambda cfg, policy, tokenizer, setting: ScriptedEngine(tok, script))
    dtypes = ComputeDtypes(model)
    train_r3(model, tok, task, Mined(failures=failures), cfg, tmp_path / "r3")
    dtypes.handle.remove()
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert ("bfloat16" in dtypes.train) == fast
    moved = max((p.detach() - s).abs().max().item() for p, s in zip(model.parameters(), start, strict=True))
    assert moved > 0 and all(torch.isfinite(p).all() for p in model.parameters())

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")  # fp32 masters, as the CLI loads them
    untrained = [p.detach().clone() for p in model.parameters()]
    collected, collect = [], rise.collect

    def recorded(engine, *args):  # which weights each chunk of the collection generated from
        weights = [p.detach().clone() for p in engine.model.parameters()]
        collected.append((weights[0].dtype, engine.model is model, weights))
        return collect(engine, *args)

    monkeypatch.setattr(rise, "collect", recorded)
    final = rise.train_rise(model, tok, task, Mined(queries=examples), cfg, tmp_path / "rise")
    # Each round collects from its own current weights: round 0 from the loaded model, round 1 from what round 0
    # trained; as a bf16 copy under bf16-mixed, as the fp32 weights themselves on an AVX2-only CPU.
    round0, _ = load_model(str(final_model_dir(tmp_path / "rise" / "round-0")), dtype="fp32", device="cpu")
    assert any(not torch.equal(a, b) for a, b in zip(untrained, round0.parameters(), strict=True))
    want = torch.bfloat16 if fast else torch.float32
    assert [(dtype, is_model) for dtype, is_model, _ in collected] == [(want, not fast), (want, False)]
    for (_, _, weights), current in zip(collected, (untrained, list(round0.parameters())), strict=True):
        assert all(torch.equal(w, c.detach().to(want)) for w, c in zip(weights, current, strict=True))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    trained, _ = load_model(str(final), dtype="fp32", device="cpu")
    assert all(torch.isfinite(p).all() for p in trained.parameters())


class _GeneratingRollout:
    """Every group informative (so every step updates), each sampled by the real engine the loop built; records
    that engine, the dtype of the weights it generated from, whether autocast was on around it, and whether those
    weights were the policy's current ones (``policy``: set by the test)."""

    name = "generating"

    def __init__(self):
        from reflectrl.train.pool import FailurePool

        self.pool = FailurePool(list(range(10)), seed=0)
        self.engines, self.seen, self.policy = [], [], None

    def sample(self, engine, items, seed):
        from reflectrl.rollout.engine import Sampling
        from reflectrl.train.packing import Group

        self.engines.append(engine)
        pairs = zip(engine.model.parameters(), self.policy.parameters(), strict=True)
        current = all(torch.equal(mine, p.detach().to(mine.dtype)) for mine, p in pairs)
        self.seen.append((next(engine.model.parameters()).dtype, torch.is_autocast_enabled("cpu"), current))
        out = engine.generate([[1, 2, 3]] * len(items), 2, Sampling(max_new_tokens=2, temperature=1.0), seed)
        groups = [
            Group(
                [1, 2, 3],
                [s.token_ids for s in g],
                [[1] * len(s.token_ids) for s in g],
                [1.0, 0.0],
                [s.logprobs for s in g],
            )
            for g in out
        ]
        return groups, sum(len(s.token_ids) for samples in out for s in samples)


@pytest.mark.parametrize(
    "fast, lora", [(True, False), (True, True), (False, False)], ids=["avx512-bf16", "avx512-bf16-lora", "avx2-only"]
)
def test_training_generates_from_a_bf16_copy_where_it_trains_in_bf16_mixed(
    tiny_model_dir, tmp_path, monkeypatch, fast, lora
):
    """Under bf16-mixed the loop's hf engine generates from a bf16 copy of the policy (no autocast), refreshed after
    every update; in fp32 from the trainer's own weights."""
    import reflectrl.train.loop as loop

    monkeypatch.setenv(FAST_BF16_ENV, "1" if fast else "0")
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    start = [p.detach().clone() for p in model.parameters()]
    cfg = load_config(
        None,
        ["train.num_generations=2", "train.groups_per_step=1", "train.steps=2", "train.dynamic_sampling=false"]
        + [
            "train.report_to=[none]",
            "train.learning_rate=1e-2",
            "train.precision=auto",
            f"train.lora.enabled={str(lora).lower()}",
        ],
    )
    rollout, build = _GeneratingRollout(), loop._engine

    def recorded(cfg, policy, tokenizer, setting):
        rollout.policy = policy
        return build(cfg, policy, tokenizer, setting)

    monkeypatch.setattr(loop, "_engine", recorded)
    loop.train_policy(model, tok, rollout, cfg, tmp_path, 8, False)
    engine = rollout.engines[0]
    assert len(rollout.engines) == 2 and rollout.engines[1] is engine  # one engine for the run
    moved = max((p.detach() - s).abs().max().item() for p, s in zip(model.parameters(), start, strict=True))
    assert moved > 1e-3  # both steps updated the policy
    # Each rollout generated from the policy's current weights (step 2: after step 1's update), bf16 where copied.
    if fast:
        assert engine.model is not rollout.policy and rollout.seen == [(torch.bfloat16, False, True)] * 2
        inv_freq = {b.dtype for n, b in engine.model.named_buffers() if n.endswith("inv_freq")}
        assert inv_freq == {torch.float32}  # buffers as eval loads them
    else:
        assert engine.model is rollout.policy and rollout.seen == [(torch.float32, fast, True)] * 2
