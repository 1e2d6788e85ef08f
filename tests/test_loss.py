"""train/loss.py: advantages by hand, the gradient against a float64 computation written out token by token,
and the loss and gradient against TRL's GRPOTrainer on the same batch."""

import pytest
import torch
from conftest import ScriptedEngine
from tiny import failures_of

from reflectrl.config import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve
from reflectrl.train.loss import RolloutBatch, group_advantages, policy_loss, token_logprobs


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    groups = torch.tensor([7, 7, 7, 3, 3, 3])
    none = group_advantages(rewards, groups, "none")
    assert torch.allclose(none, torch.tensor([2 / 3, -1 / 3, -1 / 3, -2 / 3, 1 / 3, 1 / 3]))
    std = torch.tensor([1, 0, 0, 0, 1, 1.0])[:3].std()  # each group: one of three differs
    assert torch.allclose(group_advantages(rewards, groups, "group"), none / (std + 1e-4))
    assert torch.allclose(group_advantages(rewards, groups, "batch"), none / (rewards.std() + 1e-4))
    flat = group_advantages(torch.ones(4), torch.tensor([0, 0, 1, 1]), "group")
    assert torch.equal(flat, torch.zeros(4))  # a group whose rewards are all equal carries no signal


def _tiny_batch(tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, len(tok) - 5, (4, 12), generator=g)
    attention = torch.ones_like(ids)
    attention[1, 10:] = 0  # right padding
    loss_mask = torch.zeros_like(ids)
    loss_mask[:, 6:] = 1
    loss_mask[1, 10:] = 0
    loss_mask[3, 6:8] = 0  # a context gap inside the completion (R3-answer's retry prompt)
    batch = RolloutBatch(ids, attention, loss_mask, torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.tensor([0, 0, 1, 1]))
    return model, batch


@pytest.mark.parametrize("loss_type", ["dapo", "bnpo", "grpo", "dr_grpo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_gradient_equals_a_float64_computation_token_by_token(tiny_model_dir, loss_type, beta):
    model, batch = _tiny_batch(tiny_model_dir)
    temperature, max_len = 0.9, 8
    with torch.no_grad():
        ref = token_logprobs(model, batch.input_ids, batch.attention_mask, temperature) - 0.05  # some reference
    adv = group_advantages(batch.rewards, batch.group_ids, "group")
    logp = token_logprobs(model, batch.input_ids, batch.attention_mask, temperature)
    kwargs = {"loss_type": loss_type, "beta": beta, "ref_logprobs": ref, "max_completion_length": max_len}
    policy_loss(logp, batch, adv, **kwargs).backward()
    ours = [p.grad.clone() for p in model.parameters()]

    # float64, one trained token at a time: on-policy the loss's gradient is that of
    # sum_t w_t * (-A * logp_t + beta * (exp(ref_t - logp_t) - (ref_t - logp_t) - 1)).
    model64 = model.double()
    model64.zero_grad()
    logits = model64(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits / temperature
    total, trained = 0.0, batch.loss_mask.sum()
    for b in range(4):
        n_b = batch.loss_mask[b].sum()
        for t in range(1, 12):
            if not batch.loss_mask[b, t]:
                continue
            lp = torch.log_softmax(logits[b, t - 1], -1)[batch.input_ids[b, t]]
            w = {"dapo": 1 / trained, "bnpo": 1 / trained, "grpo": 1 / (4 * n_b), "dr_grpo": 1 / (4 * max_len)}
            d = ref[b, t].double() - lp
            total = total + w[loss_type] * (-adv[b].double() * lp + beta * (torch.exp(d) - d - 1))
    total.backward()
    for a, p in zip(ours, model64.parameters(), strict=True):
        assert torch.allclose(a.double(), p.grad, rtol=1e-4, atol=1e-8)


def test_truncated_importance_weights_scale_tokens_and_are_capped(tiny_model_dir):
    model, batch = _tiny_batch(tiny_model_dir)
    adv = group_advantages(batch.rewards, batch.group_ids)
    logp = token_logprobs(model, batch.input_ids, batch.attention_mask)
    on_policy = policy_loss(logp, batch, adv)
    batch.behaviour_logprobs = logp.detach() - 0.1  # the sampler found each token a bit less likely
    weighted = policy_loss(logp, batch, adv)
    assert weighted.item() == pytest.approx(on_policy.item() * torch.exp(torch.tensor(0.1)).item(), rel=1e-5)
    batch.behaviour_logprobs = logp.detach() - 5.0  # far off: the weight is capped
    assert policy_loss(logp, batch, adv, is_cap=2.0).item() == pytest.approx(2.0 * on_policy.item(), rel=1e-5)


@pytest.mark.parametrize("loss_type, beta", [("dapo", 0.0), ("dapo", 0.001), ("grpo", 0.0), ("grpo", 0.001)])
def test_loss_and_gradient_agree_with_trls_grpo_trainer(tmp_path, tiny_model_dir, loss_type, beta):
    from reflectrl.train.r3 import ReflectRetryRollout, failure_rows, retry_reward
    from reflectrl.train.rl import make_trainer

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = get_task("countdown", train_size=20, test_size=2)
    examples = task.load("train")[:2]
    overrides = ["train.num_generations=4", "train.groups_per_step=2", "train.steps=1", "train.micro_batch_size=null"]
    overrides += [f"train.beta={beta}", f"train.loss_type={loss_type}", "train.report_to=[none]"]
    overrides += ["train.precision=fp32"]
    cfg = load_config(None, overrides)
    rows = failure_rows(failures_of(task, examples), cfg.episode, cfg.train)

    def script(last_user, text, k):  # reflections alternate good/bad; a retry succeeds after a good one
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan bad"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        good = f"<answer> {solve(ex['nums'], ex['target'])} </answer>"
        return good if "good plan" in text else "<answer> 1 </answer>"

    rollout = ReflectRetryRollout(task, rows, cfg.episode, cfg.train, cfg.engine)
    rollout.engine = ScriptedEngine(tok, script)
    trainer = make_trainer(model, tok, rows, rollout, [retry_reward], cfg.train, tmp_path, 16)
    trl = trainer._generate_and_score_completions([dict(rows[0]) for _ in range(4)] + [dict(rows[1]) for _ in range(4)])
    model.zero_grad()
    theirs = trainer.compute_loss(trainer.model, trl)
    theirs.backward()
    their_grads = [p.grad.clone() for p in model.parameters()]

    prompt, completion = trl["prompt_ids"], trl["completion_ids"]
    trained = trl["completion_mask"] * trl["tool_mask"]
    batch = RolloutBatch(
        input_ids=torch.cat([prompt, completion], 1),
        attention_mask=torch.cat([trl["prompt_mask"], trl["completion_mask"]], 1),
        loss_mask=torch.cat([torch.zeros_like(prompt), trained], 1),
        rewards=torch.tensor([1.0, 0.0, 1.0, 0.0] * 2),
        group_ids=torch.tensor([0] * 4 + [1] * 4),
    )
    adv = group_advantages(batch.rewards, batch.group_ids, cfg.train.scale_rewards)
    assert torch.allclose(adv, trl["advantages"])
    ref = None
    if beta:
        ref = torch.cat([torch.zeros_like(prompt, dtype=torch.float), trl["ref_per_token_logps"]], 1)
    model.zero_grad()
    logp = token_logprobs(model, batch.input_ids, batch.attention_mask, cfg.train.temperature)
    ours = policy_loss(logp, batch, adv, loss_type=loss_type, beta=beta, ref_logprobs=ref)
    ours.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-4, abs=1e-7)
    for a, b in zip([p.grad for p in model.parameters()], their_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-6)
