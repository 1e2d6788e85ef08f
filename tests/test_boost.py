"""The boost's completion-only loss equals TRL's SFT loss, and so does its gradient."""

import pytest
import torch

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.tasks import get_task
from reflectrl.train.boost import CompletionSFTTrainer, boost_rows


@pytest.mark.parametrize("with_count", [True, False], ids=["num_items_in_batch", "per-batch-mean"])
def test_completion_loss_equals_trls_loss_and_gradient(tiny_model_dir, tmp_path, with_count):
    from datasets import Dataset
    from trl import SFTConfig

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = get_task("countdown", train_size=20, test_size=2)
    cfg = load_config(None, ["boost.reflection_fraction=1.0"])  # answer rows and reflection episodes
    rows = boost_rows(task, task.load("train")[:6], cfg.episode, 1.0, seed=0)
    args = SFTConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=6,
        completion_only_loss=True,
        max_length=512,
        report_to=[],
        use_cpu=True,
    )
    trainer = CompletionSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    assert trainer.trl_loss is False  # on a CPU ours is used
    batch = next(iter(trainer.get_train_dataloader()))
    trained = batch["labels"][:, 1:] != -100
    assert trained.any(1).all() and (~trained).sum() > trained.sum()  # prompts are context, not targets
    count = trained.sum() if with_count else None

    def loss_and_grads(trl: bool):
        trainer.trl_loss = trl
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=count)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    ours, our_grads = loss_and_grads(False)
    theirs, their_grads = loss_and_grads(True)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    for a, b in zip(our_grads, their_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_completion_loss_of_a_batch_with_nothing_to_train_is_a_finite_zero(tiny_lm):
    from reflectrl.train.boost import completion_loss

    model, _ = tiny_lm
    ids = torch.tensor([[5, 6, 7, 8]])
    loss = completion_loss(model, {"input_ids": ids, "labels": torch.full_like(ids, -100)}, num_items_in_batch=0)
    assert loss.item() == 0.0
