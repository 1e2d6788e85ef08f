"""R3's loss touches the reflection tokens only (r3-answer: also a successful retry's tokens)."""

import pytest
import torch
from conftest import ScriptedEngine

from reflectrl.config import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve
from reflectrl.train.r3 import ReflectRetryRollout, failure_rows
from reflectrl.train.rl import make_trainer, no_signal_warning


def _failures(task):
    out = []
    for ex in task.load("train")[:2]:
        out.append(
            {
                "id": f"{ex['id']}/0",
                "query_id": ex["id"],
                "example": ex,
                "prompt": task.messages(ex),
                "attempt": "<answer> 1 + 1 </answer>",
                "reason": "wrong_numbers",
                "query_success_rate": 0.5,
            }
        )
    return out


def _script(task, examples):
    """Reflections alternate good/bad within a group; a retry succeeds exactly after a good reflection."""

    def script(last_user, text, k):
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan bad"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        if "good plan" in text:
            return f"<answer> {solve(ex['nums'], ex['target'])} </answer>"
        return "<answer> 1 + 1 </answer>"

    return script


def _batch(tmp_path, tiny_model_dir, train_retry):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = get_task("countdown", train_size=20, test_size=2)
    cfg = load_config(
        None,
        [
            "train.num_generations=4",
            "train.groups_per_step=2",
            "train.steps=1",
            "train.beta=0.0",
            "train.report_to=[none]",
            "train.scale_rewards=none",
        ],
    )
    failures = _failures(task)
    rows = failure_rows(failures, cfg.episode, cfg.train)
    rollout = ReflectRetryRollout(task, rows, cfg.episode, cfg.train, cfg.engine, train_retry)
    engine = ScriptedEngine(tok, _script(task, [f["example"] for f in failures]))
    rollout.engine = engine
    trainer = make_trainer(model, tok, rows, rollout, [__import__("reflectrl.train.r3").train.r3.retry_reward],
                           cfg.train, tmp_path, 64)  # fmt: skip
    inputs = [dict(rows[0]) for _ in range(4)] + [dict(rows[1]) for _ in range(4)]
    batch = trainer._generate_and_score_completions(inputs)
    return trainer, batch, tok


def _final_hidden_grads(trainer, batch):
    """Gradient of the loss at each position's final hidden state. The state at position i only feeds
    the prediction of token i+1, so a zero gradient there means token i+1 carries no loss."""
    model = trainer.model
    captured = {}

    def hook(module, args, output):
        output.retain_grad()
        captured["h"] = output

    handle = model.model.norm.register_forward_hook(hook)
    try:
        loss = trainer.compute_loss(model, batch)
        loss.backward()
    finally:
        handle.remove()
    return captured["h"].grad


def test_r3_trains_reflection_tokens_only(tmp_path, tiny_model_dir):
    trainer, batch, tok = _batch(tmp_path, tiny_model_dir, train_retry=False)
    rewards = batch["advantages"]
    assert torch.equal(rewards > 0, torch.tensor([True, False, True, False] * 2))  # good reflections win
    P = batch["prompt_ids"].shape[1]
    for b in range(8):
        text = tok.decode(batch["completion_ids"][b][batch["completion_mask"][b].bool()])
        assert text.startswith(("good plan", "bad plan")) and "<answer>" not in text  # the retry is not trained
    grads = _final_hidden_grads(trainer, batch).abs().sum(-1)  # (B, P + C)
    trained = batch["completion_mask"] * batch["tool_mask"] if "tool_mask" in batch else batch["completion_mask"]
    for b in range(8):
        assert torch.all(grads[b, : P - 1] == 0), "prompt (query + failed attempt) positions got gradient"
        for j in range(batch["completion_ids"].shape[1]):
            if trained[b, j]:
                assert grads[b, P - 1 + j] > 0, f"reflection token {j} of row {b} got no gradient"
            else:
                assert grads[b, P - 1 + j] == 0


def test_r3_answer_also_trains_successful_retries(tmp_path, tiny_model_dir):
    trainer, batch, tok = _batch(tmp_path, tiny_model_dir, train_retry=True)
    P = batch["prompt_ids"].shape[1]
    grads = _final_hidden_grads(trainer, batch).abs().sum(-1)
    for b in range(8):
        ids = batch["completion_ids"][b]
        mask = batch["completion_mask"][b] * batch["tool_mask"][b]
        text_all = tok.decode(ids[batch["completion_mask"][b].bool()])
        trained_text = tok.decode(ids[mask.bool()])
        good = text_all.startswith("good plan")
        assert "Try again" in text_all and "Try again" not in trained_text  # the retry prompt is context
        assert ("<answer>" in trained_text) == good  # only successful retries are trained
        for j in range(ids.shape[0]):
            pos = P - 1 + j
            assert (grads[b, pos] > 0) == bool(mask[j]), (b, j)


@pytest.mark.parametrize("min_success, expected", [(0.0, 2), (0.6, 0)])
def test_failure_rows_filters_by_query_success(min_success, expected):
    task = get_task("countdown", train_size=20, test_size=2)
    cfg = load_config(None, [f"train.min_query_success={min_success}"])
    if expected == 0:
        with pytest.raises(Exception, match="no failures to train on"):
            failure_rows(_failures(task), cfg.episode, cfg.train)
    else:
        rows = failure_rows(_failures(task), cfg.episode, cfg.train)
        assert len(rows) == expected
        assert rows[0]["prompt"][-1] == {"role": "user", "content": REFLECTION_PROMPT}
        assert rows[0]["prompt"][-2]["role"] == "assistant"


@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_micro_batches_give_the_same_update_as_one_batch(tmp_path, tiny_model_dir, loss_type):
    """train.micro_batch_size only changes memory: one optimizer step over 8 sequences in micro-batches of 2
    ends at the same weights as one forward/backward over all 8."""
    from reflectrl.train.r3 import retry_reward

    task = get_task("countdown", train_size=20, test_size=2)
    failures = _failures(task)
    weights = {}
    for micro in ("null", "2"):
        model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
        cfg = load_config(
            None,
            [
                "train.num_generations=4",
                "train.groups_per_step=2",
                f"train.micro_batch_size={micro}",
                f"train.loss_type={loss_type}",
                "train.steps=1",
                "train.learning_rate=1e-2",
                "train.beta=0.0",
                "train.report_to=[none]",
                "train.save_steps=100",
            ],
        )
        rows = failure_rows(failures, cfg.episode, cfg.train)
        rollout = ReflectRetryRollout(task, rows, cfg.episode, cfg.train, cfg.engine, False)
        rollout.engine = ScriptedEngine(tok, _script(task, [f["example"] for f in failures]))
        trainer = make_trainer(model, tok, rows, rollout, [retry_reward], cfg.train, tmp_path / micro, 64)
        assert trainer.args.gradient_accumulation_steps == (1 if micro == "null" else 4)
        trainer.args.optim = "sgd"  # Adam's first step is ~lr * sign(grad): it would amplify rounding noise
        trainer.train()
        weights[micro] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    start, _ = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    moved = [k for k, v in start.state_dict().items() if not torch.equal(v, weights["null"][k])]
    assert moved, "the step changed no weight: the comparison would prove nothing"
    for k in weights["null"]:
        torch.testing.assert_close(weights["2"][k], weights["null"][k], rtol=1e-4, atol=1e-6, msg=k)


def test_micro_batch_must_divide_the_step_batch():
    from reflectrl.errors import ReflectrlError

    with pytest.raises(ReflectrlError, match=r"train\.micro_batch_size: .*must divide .* = 8 \(got 3\)"):
        load_config(None, ["train.num_generations=4", "train.groups_per_step=2", "train.micro_batch_size=3"])
    assert load_config(None, ["train.num_generations=4", "train.micro_batch_size=16"]).train.micro_batch_size == 16


def test_no_signal_warning_only_when_no_group_ever_had_reward_variance():
    flat = [{"step": 1, "frac_reward_zero_std": 1.0}, {"step": 2, "frac_reward_zero_std": 1.0}, {"step": 2}]
    assert "all 2 logged steps" in no_signal_warning(flat)
    assert no_signal_warning([*flat, {"step": 3, "frac_reward_zero_std": 0.5}]) is None
    assert no_signal_warning([{"step": 1, "loss": 0.0}]) is None  # nothing logged about groups: say nothing
