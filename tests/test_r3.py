"""R3's rollout and our update loop (train/loop.py): the loss touches the reflection tokens only (r3-answer: also
a successful retry's tokens), k retries per reflection, dynamic sampling, steps without signal, resume guards."""

import contextlib
import json
import math
from types import SimpleNamespace

import pytest
import torch
from conftest import ScriptedEngine
from tiny import failures_of, positions_with_gradient

from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.models import load_model
from reflectrl.rollout.engine import Sample
from reflectrl.rollout.episode import REFLECTION_PROMPT, attempt_prompt, continue_chat, reflection_context
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve
from reflectrl.train.loop import collect, no_signal_warning
from reflectrl.train.packing import Group
from reflectrl.train.pool import FailurePool, Mined
from reflectrl.train.r3 import ReflectRetry, train_r3, trainable_failures


def _task():
    return get_task("countdown", train_size=20, test_size=2)


def _script(examples, retry_ok=lambda k: True):
    """Reflections alternate good/bad within a group; a retry succeeds after a good reflection (when retry_ok(k))."""

    def script(last_user, text, k):
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan bad"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        if "good plan" in text and retry_ok(k):
            return f"<answer> {solve(ex['nums'], ex['target'])} </answer>"
        return "<answer> 1 + 1 </answer>"

    return script


def _cfg(*extra):
    base = ["train.num_generations=4", "train.groups_per_step=2", "train.steps=1", "train.beta=0.0"]
    return load_config(None, [*base, "train.report_to=[none]", "train.scale_rewards=none", *extra])


def _groups(tok, train_retry=False, *extra):
    task = _task()
    examples = task.load("train")[:2]
    cfg = _cfg(*extra)
    rollout = ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train, train_retry)
    groups, generated = rollout.sample(ScriptedEngine(tok, _script(examples)), failures_of(task, examples), seed=0)
    return groups, generated, cfg


def test_r3_trains_reflection_tokens_only(tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups, generated, cfg = _groups(tok)
    assert [g.rewards for g in groups] == [[1.0, 0.0, 1.0, 0.0]] * 2  # good reflections win
    assert [i["retry_success"] for i in groups[0].info] == [1.0, 0.0, 1.0, 0.0]
    for g in groups:
        assert tok.decode(g.prefix).endswith(REFLECTION_PROMPT + "<|im_end|>\n<|im_start|>assistant\n")
        for completion in g.completions:  # the completion is the reflection alone: the retry is not trained
            text = tok.decode(completion)
            assert text.startswith(("good plan", "bad plan")) and "<answer>" not in text
    retry_tokens = 8 * len(tok("<answer> 1 + 1 </answer>").input_ids)  # lower bound: each retry has an answer
    assert generated > sum(len(c) for g in groups for c in g.completions) + retry_tokens
    with_grad, packed = positions_with_gradient(model, groups, cfg.train)
    # Exactly the positions that predict a reflection token: the last prefix token (shared by the group's four
    # reflections) and each reflection token but the last.
    assert with_grad == set(packed.parents.tolist())
    assert tok.decode(packed.targets[: len(groups[0].completions[0])]) == tok.decode(groups[0].completions[0])


def test_a_reflection_in_the_wanted_format_earns_the_format_reward(tiny_model_dir):
    _, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups, _, _ = _groups(tok, False, "train.reflection_format=plan bad$", "train.format_reward=0.25")
    assert [g.rewards for g in groups] == [[1.0, 0.25, 1.0, 0.25]] * 2  # the retry reward, plus 0.25 if it matches
    assert [i["format_match"] for i in groups[0].info] == [0.0, 1.0, 0.0, 1.0]
    assert [i["retry_success"] for i in groups[0].info] == [1.0, 0.0, 1.0, 0.0]
    plain, _, _ = _groups(tok)  # unset: the reward is the retry's alone
    assert [g.rewards for g in plain] == [[1.0, 0.0, 1.0, 0.0]] * 2 and "format_match" not in plain[0].info[0]
    with pytest.raises(ReflectrlError, match="reflection_format is not a regex"):
        _cfg("train.reflection_format=(start")


def test_reward_leaks_false_gives_a_reflection_that_holds_an_answer_nothing(tiny_model_dir):
    _, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    ex = task.load("train")[0]
    answer = solve(ex["nums"], ex["target"])

    def script(last_user, text, k):  # every retry succeeds; odd reflections give the answer away in prose
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else f"I will write {answer}."
        return f"<answer> {answer} </answer>"

    def rewards(*extra):
        cfg = _cfg(*extra)
        rollout = ReflectRetry(task, failures_of(task, [ex]), cfg.episode, cfg.train)
        groups, _ = rollout.sample(ScriptedEngine(tok, script), failures_of(task, [ex]), seed=0)
        return groups[0].rewards, [m["leak"] for m in groups[0].measures]

    assert rewards() == ([1.0] * 4, [False, True] * 2)  # the paper's reward: a copied guess counts
    assert rewards("train.reward_leaks=false") == ([1.0, 0.0] * 2, [False, True] * 2)


def test_r3_answer_also_trains_successful_retries(tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups, _, cfg = _groups(tok, True)
    for g in groups:
        for completion, mask in zip(g.completions, g.masks, strict=True):
            whole = tok.decode(completion)
            trained = tok.decode([t for t, m in zip(completion, mask, strict=True) if m])
            assert "Try again" in whole and "Try again" not in trained  # the retry prompt is context
            assert ("<answer>" in trained) == whole.startswith("good plan")  # only successful retries are trained
    with_grad, packed = positions_with_gradient(model, groups, cfg.train)
    assert with_grad == set(packed.parents.tolist())


class _ScoringEngine(ScriptedEngine):
    """Gives each reference answer probability 0.1 after a good plan and 0.01 after a bad one."""

    def __init__(self, tokenizer, script):
        super().__init__(tokenizer, script)
        self.scored = []
        self.eos_ids = {tokenizer.eos_token_id, 0}  # two ways to end a turn: each answer can end with either

    def score(self, prompt, continuations, temperature, then=()):
        self.scored.append((continuations, temperature, then))
        p = 0.1 if "good plan" in self.tokenizer.decode(prompt) else 0.01  # each (answer, end) has probability p
        return [math.log(p * max(1, len(then)))] * len(continuations)


def test_expected_retry_reward_is_the_probability_of_a_reference_answer(tiny_model_dir):
    """train.retry_reward: expected rewards a reflection with the policy's probability of retrying with one of the
    task's reference answers and ending the turn there (scored at the retry temperature), not with the sampled
    retry's verdict."""
    _, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    examples = task.load("train")[:2]
    cfg = _cfg("train.retry_reward=expected", "train.temperature=0.7")
    rollout = ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train)
    engine = _ScoringEngine(tok, _script(examples, retry_ok=lambda k: False))  # no sampled retry succeeds
    groups, _ = rollout.sample(engine, failures_of(task, examples), seed=0)
    for group, ex in zip(groups, examples, strict=True):
        n = 2 * len(task.reference_answers(ex))  # each answer, then either end of turn
        assert group.rewards == pytest.approx([min(1.0, 0.1 * n), 0.01 * n] * 2)
        assert [i["retry_success"] for i in group.info] == [0.0] * 4
        assert [i["expected_success"] for i in group.info] == group.rewards
    answers, temperature, then = engine.scored[0]
    want = [tok(a, add_special_tokens=False)["input_ids"] for a in task.reference_answers(examples[0])]
    assert temperature == 0.7 and answers == want and list(then) == sorted(engine.eos_ids)
    task.reference_answers = lambda example: []
    with pytest.raises(ReflectrlError, match="needs the task's reference answers: 'countdown' lists none"):
        rollout.sample(engine, failures_of(task, examples), seed=0)


def test_expected_retry_reward_needs_plain_sampling_and_the_hf_engine(tiny_model_dir, tmp_path):
    """The expected reward scores softmax(logits / T): top-p or top-k retries would be another policy, so the config
    refuses them, and training refuses another engine before loading it."""
    for bad in ("train.top_p=0.9", "train.top_k=20"):
        with pytest.raises(ReflectrlError, match="retry_reward=expected scores the retry under plain temperature"):
            load_config(None, ["train.retry_reward=expected", bad])
    load_config(None, ["train.retry_reward=sampled", "train.top_p=0.9"])  # the sampled reward takes any sampling
    task = _task()
    cfg = _cfg("train.retry_reward=expected", "engine.name=vllm")
    with pytest.raises(ReflectrlError, match="scores retries with the hf engine, not vllm"):
        train_r3(None, None, task, Mined(failures=failures_of(task, task.load("train")[:2])), cfg, tmp_path)


def test_expected_reward_scales_advantages_by_the_batch_std_unless_told_otherwise(tmp_path):
    """Group std scaling turns the expected reward's near-ties in hopeless groups into unit advantages (RESULTS
    §7k), so the unset default is batch for it and group (TRL's) for the sampled reward; an explicit choice stands,
    and the pinned config of a run records the resolved value."""
    from reflectrl.config_file import dump_config

    assert load_config(None, []).train.scale_rewards == "group"
    expected = load_config(None, ["train.retry_reward=expected"])
    assert expected.train.scale_rewards == "batch"
    assert "scale_rewards: batch" in dump_config(expected)
    for explicit in ("group", "none"):
        cfg = load_config(None, ["train.retry_reward=expected", f"train.scale_rewards={explicit}"])
        assert cfg.train.scale_rewards == explicit
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  retry_reward: expected\n  scale_rewards: null\n")
    assert load_config(path, []).train.scale_rewards == "batch"


def test_retries_per_reflection_reward_the_share_that_succeed(tiny_model_dir):
    _, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    examples = task.load("train")[:2]
    cfg = _cfg("train.retries_per_reflection=4")
    rollout = ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train)
    engine = ScriptedEngine(tok, _script(examples, retry_ok=lambda k: k < 3))  # 3 of 4 retries succeed
    groups, _ = rollout.sample(engine, failures_of(task, examples), seed=0)
    assert [g.rewards for g in groups] == [[0.75, 0.0, 0.75, 0.0]] * 2
    with pytest.raises(ReflectrlError, match="r3-answer trains one retry per reflection"):
        ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train, True)


@pytest.mark.parametrize("min_success, expected", [(0.0, 2), (0.6, 0)])
def test_trainable_failures_filter_by_query_success(min_success, expected):
    task = _task()
    cfg = load_config(None, [f"train.min_query_success={min_success}"])
    failures = failures_of(task, task.load("train")[:2])
    if expected == 0:
        with pytest.raises(ReflectrlError, match="no failures to train on"):
            trainable_failures(failures, cfg.train)
    else:
        assert len(trainable_failures(failures, cfg.train)) == expected


def test_training_continues_the_mined_attempt_token_ids(tiny_lm):
    """A failure mined with its token ids is continued from exactly those ids, as evaluation continues an
    attempt (run_episodes), even where re-tokenizing the text would give other ids."""
    _, tok = tiny_lm
    task = _task()
    ex = task.load("train")[0]
    text = "<answer> 12 + 3 </answer>"
    ids = tok(text, add_special_tokens=False).input_ids
    tokens = tok.convert_ids_to_tokens(ids)
    k = next(i for i, t in enumerate(tokens) if len(t) > 1)
    odd = ids[:k] + tok.convert_tokens_to_ids(list(tokens[k])) + ids[k + 1 :]  # a merge the sampler did not make
    assert tok.decode(odd) == tok.decode(ids) and odd != ids
    failure = failures_of(task, [ex])[0] | {"attempt": text, "attempt_ids": [*odd, tok.eos_token_id]}
    failure["attempt_finished"] = True

    class Eng:
        tokenizer = tok

    context = reflection_context(Eng, task, failure, REFLECTION_PROMPT)
    sample = Sample(text, [*odd, tok.eos_token_id], True)
    assert context == continue_chat(tok, attempt_prompt(Eng, task, ex), sample, REFLECTION_PROMPT)
    old = reflection_context(Eng, task, {k: v for k, v in failure.items() if k != "attempt_ids"}, REFLECTION_PROMPT)
    assert old != context and tok.decode(old) == tok.decode(context)  # mined before ids: re-rendered text


class FakeRollout:
    """Groups with scripted rewards: item i's group is informative when i is in ``informative``."""

    name = "fake"

    def __init__(self, informative: set[int], size: int = 100):
        self.pool = FailurePool(list(range(size)), seed=0)
        self.informative = informative

    def sample(self, engine, items, seed):
        groups = []
        for i in items:
            rewards = [1.0, 0.0] if i in self.informative else [0.0, 0.0]
            groups.append(Group([1, 2], [[3], [4]], [[1], [1]], rewards, [None, None], info=[{"item": i}] * 2))
        return groups, 2 * len(items)


@pytest.mark.parametrize(
    "informative, cap, trained, drawn, carried",
    [({5, 9, 30}, 16, 2, 16, 0), ({0, 1, 2}, None, 2, 4, 1), ({5}, None, 1, 8, 0), (set(), None, 0, 8, 0)],
)
def test_dynamic_sampling_never_sends_a_flat_group_to_the_update(informative, cap, trained, drawn, carried):
    from accelerate import Accelerator

    cfg = load_config(None, ["train.groups_per_step=2", f"train.max_draws_per_step={cap or 'null'}"]).train
    rollout = FakeRollout(set())
    order = rollout.pool._order(0)
    rollout.informative = {order[i] for i in informative}  # e.g. the 6th, 10th and 31st items drawn
    counts = {"drawn": 0, "informative": 0}
    got_drawn, kept, surplus, tokens = collect(rollout, None, cfg, 1, Accelerator(cpu=True), [], counts)
    assert all(g.informative for g in kept + surplus) and len(kept) == trained and len(surplus) == carried
    # Rounds draw the missing count over the informative share so far (a prior of 1/2, then 0 of 4): 4 groups,
    # then up to 12 more; it stops once two are found, or at the cap (default 4 x groups_per_step).
    assert len(got_drawn) == drawn and tokens == 2 * drawn and rollout.pool.drawn == drawn
    assert counts == {"drawn": drawn, "informative": len(informative & set(range(drawn)))}
    if carried:  # the surplus is trained first in the next step, before anything new is drawn
        _, kept2, _, _ = collect(rollout, None, cfg, 2, Accelerator(cpu=True), surplus, counts)
        assert kept2 == surplus and kept2[0] is surplus[0]  # no other informative item follows
    off = load_config(None, ["train.groups_per_step=2", "train.dynamic_sampling=false"]).train
    got_drawn, kept, surplus, _ = collect(rollout, None, off, 2, Accelerator(cpu=True), [], counts)
    assert len(got_drawn) == len(kept) == 2 and not surplus  # without it every drawn group is trained


def _train(tiny_model_dir, tmp_path, monkeypatch, rollout, *extra, resume=True):
    import reflectrl.train.loop as loop

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    monkeypatch.setattr(loop, "_engine", lambda cfg, policy, tokenizer, setting: ScriptedEngine(tok, lambda *a: "x"))
    cfg = load_config(None, ["train.num_generations=2", "train.groups_per_step=1", "train.report_to=[none]", *extra])
    return loop.train_policy(model, tok, rollout, cfg, tmp_path, 8, resume), model


def test_a_step_without_signal_makes_no_update_and_still_counts(tiny_model_dir, tmp_path, monkeypatch):
    start, _ = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    final, model = _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout(set()), "train.steps=2")
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(m["groups_trained"] == 0 for m in metrics)
    assert all(m["groups_drawn"] == 4 and "loss" not in m for m in metrics)  # 4 x groups_per_step draws, no loss
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), start.parameters(), strict=True))
    assert "no reward signal" in no_signal_warning(metrics)
    assert (final / "config.json").is_file()


def test_no_signal_warning_only_when_no_step_trained_an_informative_group():
    flat = [{"step": 1, "frac_reward_zero_std": 1.0, "groups_trained": 0}, {"step": 2}]
    assert "all 1 logged steps" in no_signal_warning(flat)
    assert no_signal_warning([*flat, {"step": 3, "frac_reward_zero_std": 0.5, "groups_trained": 1}]) is None
    assert no_signal_warning([{"step": 1, "loss": 0.0}]) is None  # nothing logged about groups: say nothing


def test_a_checkpoint_of_the_trl_trainer_is_refused_in_one_line(tiny_model_dir, tmp_path, monkeypatch):
    old = tmp_path / "checkpoints" / "checkpoint-2"
    old.mkdir(parents=True)
    (old / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": []}))
    with pytest.raises(ReflectrlError, match=r"TRL-based trainer .* new --out"):
        _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout({1}), "train.steps=3")


def test_resume_continues_the_pool_and_refuses_another_failures_file(tiny_model_dir, tmp_path, monkeypatch):
    rollout = FakeRollout(set(range(100)))
    keep = ["train.save_steps=1", "train.keep_checkpoints=true"]  # extended below: keep what it resumes from
    _train(tiny_model_dir, tmp_path, monkeypatch, rollout, "train.steps=2", *keep)
    saved = json.loads((tmp_path / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert saved["pool"] == {"drawn": 2, "size": 100} and saved["step"] == 2
    again = FakeRollout(set(range(100)))
    _train(tiny_model_dir, tmp_path, monkeypatch, again, "train.steps=3", *keep)
    # Continued after the two items drawn before: the informative share so far (2 of 2, a prior of 1/2: 3/4) makes
    # the third step draw ceil(1 / 0.75) = 2 groups, one trained and one carried.
    assert again.pool.drawn == 4
    with pytest.raises(ReflectrlError, match="trained on 100 items, this run has 50"):
        _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout(set(), 50), "train.steps=4")


def test_a_finished_run_deletes_its_checkpoints_unless_told_to_keep_them(tiny_model_dir, tmp_path, monkeypatch):
    """train.keep_checkpoints: false (the default) deletes checkpoints/ once the model is saved, and a later
    --resume says there is nothing to resume instead of training again from step 0 over the saved model."""
    kept, dropped = tmp_path / "kept", tmp_path / "dropped"
    steps = ["train.steps=2", "train.save_steps=1"]
    _train(tiny_model_dir, kept, monkeypatch, FakeRollout({0, 1}), *steps, "train.keep_checkpoints=true")
    final, _ = _train(tiny_model_dir, dropped, monkeypatch, FakeRollout({0, 1}), *steps)
    assert sorted(p.name for p in (kept / "checkpoints").iterdir()) == ["checkpoint-1", "checkpoint-2"]
    assert not list((dropped / "checkpoints").glob("checkpoint-*"))
    assert (final / "model.safetensors").is_file() and (dropped / "train_state.json").is_file()
    assert load_model(str(final), dtype="fp32", device="cpu")[0] is not None
    with pytest.raises(ReflectrlError, match=r"finished run whose checkpoints were deleted .* another --out"):
        _train(tiny_model_dir, dropped, monkeypatch, FakeRollout({0, 1}), "train.steps=3")


def test_snapshots_hold_each_steps_weights_load_with_from_pretrained_and_outlive_the_checkpoints(
    tiny_model_dir, tmp_path, monkeypatch
):
    """train.snapshot_every=1 over 3 steps: snapshots/step-1 and step-2 (step 3 is model/), each a folder that
    from_pretrained loads holding the policy's weights after its step; the finished run deletes its checkpoints
    but keeps the snapshots."""
    from transformers import AutoModelForCausalLM

    import reflectrl.train.loop as loop

    after_step = {}
    monkeypatch.setattr(loop, "_hash_weights", lambda a, policy, step: after_step.update({step: _weights(policy)}))
    extra = ["train.steps=3", "train.snapshot_every=1", "train.learning_rate=1e-2", "train.save_steps=1"]
    final, _ = _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout(set(range(100))), *extra)
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["step-1", "step-2"]
    assert not list((tmp_path / "checkpoints").glob("checkpoint-*"))
    for step in (1, 2, 3):
        saved = AutoModelForCausalLM.from_pretrained(tmp_path / "snapshots" / f"step-{step}" if step < 3 else final)
        assert _weights(saved) == after_step[step]
    assert after_step[1] != after_step[2] != after_step[3]  # the steps moved the weights


def _weights(model) -> dict[str, list[float]]:
    return {name: p.detach().flatten().tolist() for name, p in model.state_dict().items()}


def test_the_stage_bookkeeping_is_written_before_the_model_that_ends_the_stage(tiny_model_dir, tmp_path, monkeypatch):
    """A rerun skips training once model/ exists, and compare reads generated_tokens.json: a kill right after the
    model was saved must not leave a finished stage without them."""
    import reflectrl.train.loop as loop

    saved, there = loop.save_final_model, []

    def save(accelerator, model, tokenizer, path):
        there.append(sorted(p.name for p in path.parent.glob("*.json")))
        return saved(accelerator, model, tokenizer, path)

    monkeypatch.setattr(loop, "save_final_model", save)
    _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout({0, 1}), "train.steps=1")
    assert there == [["generated_tokens.json", "train_state.json"]]


def test_a_delete_killed_halfway_is_finished_by_the_next_one(tmp_path):
    """drop_checkpoints renames each checkpoint before deleting it: a kill mid-delete leaves checkpoint-N.deleting,
    never a checkpoint that looks complete, and the next call removes the leftover. What else the folder holds (the
    trainer's TensorBoard logs) stays."""
    from reflectrl.train.common import drop_checkpoints, last_checkpoint

    folder = tmp_path / "checkpoints"
    (folder / "checkpoint-2.deleting").mkdir(parents=True)  # a delete killed halfway
    (folder / "checkpoint-4").mkdir()
    (folder / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (folder / "runs" / "Dec02_host").mkdir(parents=True)  # transformers' default TensorBoard folder
    drop_checkpoints(tmp_path, keep=True)
    assert last_checkpoint(folder) is not None  # keep: nothing touched
    drop_checkpoints(tmp_path, keep=False)
    assert last_checkpoint(folder) is None and sorted(p.name for p in folder.iterdir()) == ["runs"]


def test_lora_with_a_kl_to_the_base_and_tensorboard(tiny_model_dir, tmp_path, monkeypatch):
    """LoRA through peft: only adapters train, the KL reference is the base (adapters off, no copy), the saved
    model is merged and loads with from_pretrained; metrics reach TensorBoard through accelerate's tracker."""
    from transformers import AutoModelForCausalLM

    start, _ = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    extra = ["train.steps=2", "train.lora.enabled=true", "train.lora.r=4", "train.beta=0.5"]
    extra += ["train.learning_rate=1e-2", "train.report_to=[tensorboard]", "train.snapshot_every=1"]
    final, _ = _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout(set(range(100))), *extra)
    # The step-1 snapshot is merged too, in a copy: training went on with its adapters.
    snapshot, _ = load_model(str(tmp_path / "snapshots" / "step-1"), dtype="fp32", device="cpu")
    ids = torch.tensor([[1, 2, 3, 4]])
    logits = [m(ids).logits for m in (start, snapshot, AutoModelForCausalLM.from_pretrained(final))]
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["groups_trained"] for m in metrics] == [1, 1] and metrics[0]["kl"] == 0.0 < metrics[1]["kl"]
    merged = AutoModelForCausalLM.from_pretrained(final)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    pairs = zip(merged.named_parameters(), start.parameters(), strict=True)
    moved = [n for (n, p), q in pairs if not torch.equal(p, q)]
    assert moved and all("proj" in n for n in moved)  # the merged adapters changed the adapted linear layers only
    assert list((tmp_path / "reflectrl").glob("events.out.tfevents.*"))


def test_gradient_checkpointing_gives_the_same_packed_gradient(tiny_model_dir):
    from accelerate import Accelerator

    from reflectrl.train.loop import accumulate_gradients

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups, _, cfg = _groups(tok)
    accumulate_gradients(model, None, groups, cfg.train, 64, Accelerator(cpu=True))
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    accumulate_gradients(model, None, groups, cfg.train, 64, Accelerator(cpu=True))
    for a, b in zip([p.grad for p in model.parameters()], plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_sampler_logprob_gap_is_logged_when_the_engine_reports_logprobs(tiny_model_dir):
    """With the sampler's log-probs known, the update reports how far the trainer's are from them: zero when they
    are the trainer's own, the shift when they are shifted."""
    from accelerate import Accelerator

    from reflectrl.train.loop import accumulate_gradients
    from reflectrl.train.packing import micro_batches, pack, trained_logprobs

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups, _, cfg = _groups(tok)
    assert "sampler_logprob_gap" not in accumulate_gradients(model, None, groups, cfg.train, 64, Accelerator(cpu=True))
    with torch.no_grad():
        own, _ = trained_logprobs(model, pack(micro_batches(groups, None)[0]), cfg.train.temperature)
    flat = iter(own.tolist())
    for g in groups:  # every reflection token is trained, in packed order
        g.logprobs = [[next(flat) - 0.25 for _ in c] for c in g.completions]
    stats = accumulate_gradients(model, None, groups, cfg.train, 64, Accelerator(cpu=True))
    assert stats["sampler_logprob_gap"] == pytest.approx(0.25, abs=1e-4)


@pytest.mark.parametrize(
    "kind, stage, sharded", [("NO", None, False), ("MULTI_GPU", None, False), ("DEEPSPEED", 2, False),
                             ("DEEPSPEED", 3, True), ("FSDP", None, True)],
)  # fmt: skip
def test_each_distributed_backend_is_told_apart(kind, stage, sharded):
    """The loop's backend branches, forced whatever machine runs this: which setups shard the weights (and so
    refuse the HF engine and gather weights for the engine's sync), and that unsharded ones gather nothing."""
    from reflectrl.train.loop import _full_weights, _sharded

    accelerator = SimpleNamespace(
        distributed_type=SimpleNamespace(name=kind),
        state=SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=stage), fsdp_plugin=None),
    )
    assert _sharded(accelerator) == sharded
    if not sharded:
        with _full_weights(accelerator, torch.nn.Linear(2, 2)):  # a no-op: nothing to gather, nothing imported
            pass


def test_remining_follows_the_policy_and_a_resumed_run_draws_from_the_remined_failures(
    tiny_model_dir, tmp_path, monkeypatch
):
    """train.remine_every: after step N the queries are mined again with the current engine into remine/step-N,
    and the pool switches to those failures (the curriculum re-applied); a run resumed from a later checkpoint
    draws from them again, and a resumed run re-mines exactly where the killed one would have."""
    import reflectrl.train.loop as loop

    task = _task()
    queries = task.load("train")[:4]
    solved_first = {q["id"] for q in queries[:2]}  # the initial failures are of these; the policy now solves them

    def script(last_user, text, k):
        ex = next((e for e in queries if str(e["nums"]) in last_user), None)
        if ex is not None and "plan" not in text:  # a first attempt (mining): solved for the first two queries
            good = ex["id"] in solved_first or k == 0  # the others are mixed: solved once in mine.samples
            return f"<answer> {solve(ex['nums'], ex['target'])} </answer>" if good else "<answer> 1 + 1 </answer>"
        return _script(queries)(last_user, text, k)

    def train(steps):
        model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
        monkeypatch.setattr(loop, "_engine", lambda cfg, policy, tokenizer, setting: ScriptedEngine(tok, script))
        extra = [f"train.steps={steps}", "train.save_steps=2", "train.remine_every=1", "mine.samples=3"]
        extra += ["train.keep_checkpoints=true"]  # resumed and extended below
        cfg = _cfg("train.groups_per_step=1", "train.min_query_success=0.01", *extra)
        rollout = ReflectRetry(task, failures_of(task, queries[:2]), cfg.episode, cfg.train, False, queries, cfg.mine)
        loop.train_policy(model, tok, rollout, cfg, tmp_path, 16)
        return rollout

    rollout = train(2)
    remined = [
        json.loads(line) for line in (tmp_path / "remine" / "step-1" / "failures.jsonl").read_text().splitlines()
    ]
    assert {f["query_id"] for f in remined} == {q["id"] for q in queries[2:]}
    assert {f["query_id"] for f in rollout.pool.items} == {q["id"] for q in queries[2:]}
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "remine/failures" not in metrics[0] and metrics[1]["remine/failures"] == 2
    assert metrics[1]["remine/queries_mixed"] == 2 and metrics[1]["remine_seconds"] >= 0
    remine_tokens = sum(r["tokens"] for r in read_jsonl(tmp_path / "remine" / "step-1" / "mined.jsonl"))
    assert metrics[1]["remine/generated_tokens"] == remine_tokens > 0
    saved = json.loads((tmp_path / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert saved["remined_at"] == 1 and saved["pool"]["size"] == 2

    resumed = train(2)  # nothing left to train: the checkpoint alone restores the re-mined pool
    assert {f["query_id"] for f in resumed.pool.items} == {q["id"] for q in queries[2:]}
    assert resumed.pool.drawn == saved["pool"]["drawn"] and not (tmp_path / "remine" / "step-2").exists()
    mined_before = (tmp_path / "remine" / "step-1" / "mined.jsonl").read_text()
    again = train(3)  # resumes at checkpoint-2 (from the re-mined pool), re-mines after step 2, trains step 3
    assert (tmp_path / "remine" / "step-1" / "mined.jsonl").read_text() == mined_before
    assert (tmp_path / "remine" / "step-2" / "failures.jsonl").is_file()
    assert {f["query_id"] for f in again.pool.items} == {q["id"] for q in queries[2:]}
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    # The checkpoint of step 3 trains on remine/step-2: without it, resuming says so instead of mixing pools.
    (tmp_path / "remine" / "step-2" / "failures.jsonl").unlink()
    with pytest.raises(ReflectrlError, match=r"re-mined failures not found: .*step-2/failures.jsonl"):
        train(3)


def test_remining_tokens_count_toward_the_token_budget(tmp_path):
    """compare's equal-token budget: the re-mining's generated tokens are the policy's compute like a rollout's."""
    from reflectrl.train.loop import _remine, _spent

    class Remining:
        pool = SimpleNamespace(items=[1, 2])

        def remine(self, engine, folder, seed):
            return {"generated_tokens": 700, "failure_rate": 0.5, "queries_mixed": 3}

        def use_failures(self, folder):
            return True

    tc = SimpleNamespace(seed=0, remine_every=4, budget_tokens=1000, budget_seconds=None)
    state = {"step": 4, "generated_tokens": 400}
    assert not _spent(tc, state)
    record = _remine(Remining(), None, tc, state, tmp_path, contextlib.nullcontext)
    assert state["generated_tokens"] == 1100 and record["remine/generated_tokens"] == 700
    assert state["remined_at"] == 4 and _spent(tc, state)


def test_remining_is_refused_for_an_algorithm_without_failures(tiny_model_dir, tmp_path, monkeypatch):
    with pytest.raises(ReflectrlError, match="remine_every re-mines failures for r3"):
        _train(tiny_model_dir, tmp_path, monkeypatch, FakeRollout({1}), "train.remine_every=2")
    task, cfg = _task(), _cfg("train.remine_every=2")
    with pytest.raises(ReflectrlError, match="needs the mined queries"):  # before any step, not at step 2
        ReflectRetry(task, failures_of(task, task.load("train")[:2]), cfg.episode, cfg.train)


def test_everything_training_learns_from_is_sampled_at_the_trainers_settings(monkeypatch):
    """Mining, re-mining and every training rollout sample at train.temperature/top_p/top_k (the temperature the
    loss takes log-probs at: sampler and trainer agree by construction); evaluation has its own (here greedy)."""
    import reflectrl.mine
    import reflectrl.pipeline
    import reflectrl.rollout
    from reflectrl.train.grpo import FirstAttempt

    task = _task()
    cfg = _cfg("eval.temperature=0", "train.temperature=0.7", "train.top_p=0.9", "train.top_k=5")
    examples = task.load("train")[:2]
    r3 = ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train, queries=examples)
    grpo = FirstAttempt(task, examples, cfg.episode, cfg.train)
    used = []
    monkeypatch.setattr(
        reflectrl.mine, "mine", lambda engine, task, qs, out, n, sampling, *a, **k: used.append(sampling)
    )
    monkeypatch.setattr(reflectrl.mine, "format_stats", lambda stats: "")
    monkeypatch.setattr(reflectrl.pipeline, "load", lambda cfg, name: (None, None))
    monkeypatch.setattr(reflectrl.rollout, "make_engine", lambda cfg, model, tok, trust_remote_code: None)
    r3.remine(None, None, 0)
    reflectrl.pipeline.run_mine(cfg, task, "a model", examples, None)
    assert len(used) == 2
    for s in (r3.reflection_sampling, r3.retry_sampling, grpo.sampling, *used):
        assert (s.temperature, s.top_p, s.top_k) == (0.7, 0.9, 5)
    assert (r3.reflection_sampling.max_new_tokens, grpo.sampling.max_new_tokens) == (128, 128)
    assert cfg.episode.sampling("retry", cfg.eval).temperature == 0
