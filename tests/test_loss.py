"""train/loss.py and train/packing.py: advantages by hand; the packed (prefix-shared) loss's gradient against a
float64 computation that forwards every sequence on its own, token by token; and the loss and gradient against
TRL's GRPOTrainer on the same batch."""

import copy

import pytest
import torch
from conftest import ScriptedEngine
from tiny import failures_of

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve
from reflectrl.train.loss import group_advantages, policy_loss, token_weights
from reflectrl.train.packing import Group, micro_batches, pack, trained_logprobs


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


def random_groups(vocab: int, seed: int = 0) -> list[Group]:
    """Two groups with prefixes of different lengths, completions of different lengths, and a context gap inside
    one completion (r3-answer's retry prompt)."""
    g = torch.Generator().manual_seed(seed)

    def ids(n):
        return torch.randint(5, vocab - 5, (n,), generator=g).tolist()

    groups = []
    for prefix_len, lengths, rewards in [(7, [5, 3, 6], [1.0, 0.0, 1.0]), (4, [4, 6, 2], [0.0, 1.0, 1.0])]:
        completions = [ids(n) for n in lengths]
        masks = [[1] * n for n in lengths]
        groups.append(Group(ids(prefix_len), completions, masks, rewards, [None] * 3))
    groups[1].masks[1][1:3] = [0, 0]
    return groups


def _ours(model, groups, loss_type, beta, temperature, max_len, micro=None, ref_shift=0.05):
    """Our loss and gradients, and the reference log-probs used (trained-token order)."""
    rewards = torch.tensor([r for gr in groups for r in gr.rewards])
    adv = group_advantages(rewards, torch.tensor([i for i, gr in enumerate(groups) for _ in gr.rewards]))
    trained = torch.tensor([sum(m) for gr in groups for m in gr.masks])
    total, refs = 0.0, []
    for pieces in micro_batches(groups, micro):
        packed = pack(pieces)
        logp, _ = trained_logprobs(model, packed, temperature)
        ref = logp.detach() - ref_shift
        refs.append(ref)
        w = token_weights(packed.seq, trained, loss_type, max_len)
        loss, _ = policy_loss(logp, adv[packed.seq], w, ref=ref, beta=beta)
        loss.backward()
        total += loss.item()
    return total, torch.cat(refs), adv


@pytest.mark.parametrize("loss_type", ["dapo", "bnpo", "grpo", "dr_grpo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_gradient_equals_a_float64_computation_token_by_token(tiny_model_dir, loss_type, beta):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups = random_groups(len(tok))
    temperature, max_len = 0.9, 8
    model64 = copy.deepcopy(model).double()
    _, refs, adv = _ours(model, groups, loss_type, beta, temperature, max_len)

    # float64, every sequence forwarded alone (no packing, no sharing): on-policy the loss's gradient is that of
    # sum_t w_t * (-A * logp_t + beta * (exp(ref_t - logp_t) - (ref_t - logp_t) - 1)).
    total, s, n = 0.0, 0, 0
    n_trained = sum(sum(m) for gr in groups for m in gr.masks)
    for gr in groups:
        for completion, mask in zip(gr.completions, gr.masks, strict=True):
            logits = model64(input_ids=torch.tensor([gr.prefix + completion])).logits[0] / temperature
            for j, (token, keep) in enumerate(zip(completion, mask, strict=True)):
                if not keep:
                    continue
                lp = torch.log_softmax(logits[len(gr.prefix) + j - 1], -1)[token]
                w = {"dapo": 1 / n_trained, "bnpo": 1 / n_trained, "grpo": 1 / (6 * sum(mask)), "dr_grpo": 1 / (6 * 8)}
                d = refs[n].double() - lp
                total = total + w[loss_type] * (-adv[s].double() * lp + beta * (torch.exp(d) - d - 1))
                n += 1
            s += 1
    assert n == len(refs)
    total.backward()
    for (name, a), p in zip(model.named_parameters(), model64.parameters(), strict=True):
        assert torch.allclose(a.grad.double(), p.grad, rtol=1e-4, atol=1e-8), name


@pytest.mark.parametrize("micro", [1, 2, 4])
def test_micro_batches_and_prefix_sharing_give_the_same_gradient(tiny_model_dir, micro):
    """Splitting the step into micro-batches (groups cut in pieces, each repeating its prefix) changes memory, not
    the loss or the gradient."""
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    groups = random_groups(len(tok), seed=1)
    whole, _, _ = _ours(model, groups, "grpo", 0.0, 1.0, 8)
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    split, _, _ = _ours(model, groups, "grpo", 0.0, 1.0, 8, micro=micro)
    assert split == pytest.approx(whole, rel=1e-5, abs=1e-7)
    for a, b in zip([p.grad for p in model.parameters()], expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_eager_attention_packs_like_sdpa(tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    packed = pack(micro_batches(random_groups(len(tok)), None)[0])
    sdpa, _ = trained_logprobs(model, packed, 1.0, "sdpa")
    model.config._attn_implementation = "eager"
    try:
        eager, _ = trained_logprobs(model, packed, 1.0, "eager")
    finally:
        model.config._attn_implementation = "sdpa"
    torch.testing.assert_close(eager, sdpa, rtol=1e-4, atol=1e-5)


def test_truncated_importance_weights_scale_tokens_and_are_capped():
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    adv, w = torch.tensor([1.0, -1.0, 0.5]), torch.full((3,), 1 / 3)
    on_policy, _ = policy_loss(logp, adv, w)
    weighted, _ = policy_loss(logp, adv, w, behaviour=logp.detach() - 0.1)  # the sampler found each token less likely
    assert weighted.item() == pytest.approx(on_policy.item() * torch.exp(torch.tensor(0.1)).item(), rel=1e-5)
    capped, _ = policy_loss(logp, adv, w, behaviour=logp.detach() - 5.0, is_cap=2.0)  # far off: capped
    assert capped.item() == pytest.approx(2.0 * on_policy.item(), rel=1e-5)


def _r3_groups(task, examples, tok, cfg):
    from reflectrl.train.r3 import ReflectRetry

    def script(last_user, text, k):  # reflections alternate good/bad; a retry succeeds after a good one
        if last_user == REFLECTION_PROMPT:
            return "good plan" if k % 2 == 0 else "bad plan bad"
        ex = next(e for e in examples if str(e["nums"]) in last_user)
        return (
            f"<answer> {solve(ex['nums'], ex['target'])} </answer>" if "good plan" in text else "<answer> 1 </answer>"
        )

    rollout = ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train)
    groups, _ = rollout.sample(ScriptedEngine(tok, script), failures_of(task, examples), seed=0)
    return groups


@pytest.mark.parametrize("loss_type, beta", [("dapo", 0.0), ("dapo", 0.001), ("grpo", 0.0), ("grpo", 0.001)])
def test_loss_and_gradient_agree_with_trls_grpo_trainer(tmp_path, tiny_model_dir, loss_type, beta):
    from accelerate import Accelerator
    from trl_reference import trl_trainer

    from reflectrl.train.loop import accumulate_gradients

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = get_task("countdown", train_size=20, test_size=2)
    examples = task.load("train")[:2]
    overrides = ["train.num_generations=4", "train.groups_per_step=2", "train.steps=1", f"train.beta={beta}"]
    overrides += [f"train.loss_type={loss_type}", "train.report_to=[none]", "train.precision=fp32"]
    cfg = load_config(None, overrides)
    groups = _r3_groups(task, examples, tok, cfg)
    assert [g.rewards for g in groups] == [[1.0, 0.0, 1.0, 0.0]] * 2

    trainer = trl_trainer(model, tok, [groups], cfg.train, tmp_path, 16)
    trl = trainer._generate_and_score_completions([{"prompt": [{"role": "user", "content": "x"}]} for _ in range(8)])
    model.zero_grad()
    theirs = trainer.compute_loss(trainer.model, trl)
    theirs.backward()
    their_grads = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    reference = copy.deepcopy(model).eval() if beta else None
    stats = accumulate_gradients(model, reference, groups, cfg.train, 16, Accelerator(cpu=True))
    assert stats["loss"] == pytest.approx(theirs.item(), rel=1e-4, abs=1e-7)
    for a, b in zip([p.grad for p in model.parameters()], their_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-6)
