"""A tiny random chat model and a scripted engine, built here (no network, no downloads). Plain Python with no
pytest import, so scripts/gpu_check.py uses them too on a device machine without pytest."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_model(path: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A byte-level BPE tokenizer with a ChatML template and a random 2-layer Llama, saved to ``path``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from tokenizers import decoders as tk_decoders
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [
        "Using the numbers [1, 2, 3], create an equation that equals 6. <answer> (1 + 2) * 3 </answer>",
        "You tried solving the problem and got the wrong answer. Reflect on what went wrong. Try again.",
        "0 1 2 3 4 5 6 7 8 9 + - * / ( ) [ ] , . the a is to of and in that",
    ] * 20
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk_decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


LIVELY_TEXTS = ("a", "longer prompt here 1 2 3 4 5 6 7 8 9", "b c", "the numbers 1 2 3", "x", "7 8 9 ( ) and a")


def lively(model, tokenizer):
    """A float64 copy of the tiny model with larger random weights, whose greedy output depends on the context (the
    default init repeats one token forever, which would make equality tests vacuous; float64, so batch layout
    cannot flip an argmax through rounding); chat prompts; and end ids the model does emit, so rows finish at
    different lengths. Returns (model, prompts, extra end ids)."""
    import copy

    import torch

    from reflectrl.rollout.chat import encode_chat
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.hf import HFEngine

    model = copy.deepcopy(model).double()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.3)
    prompts = [encode_chat(tokenizer, [{"role": "user", "content": t}]) for t in LIVELY_TEXTS]
    out = HFEngine(model, tokenizer, mode="naive").generate(prompts, 1, Sampling(max_new_tokens=16, temperature=0))
    eos = {out[0][0].token_ids[5], out[1][0].token_ids[9], out[3][0].token_ids[2]}
    return model, prompts, eos


def boost_overrides(precision: str, lr: float = 1e-5) -> list[str]:
    """A few constant-lr AdamW steps of 4 answer rows each: the boost the precision checks compare."""
    return [
        f"boost.precision={precision}",
        f"boost.learning_rate={lr}",
        "boost.lr_scheduler=constant",
        "boost.warmup_ratio=0",
        "boost.batch_size=4",
        "boost.gradient_accumulation_steps=1",
        "boost.reflection_fraction=0",
        "boost.report_to=[none]",
        "boost.save_steps=1000",
        "boost.logging_steps=1",
        "boost.max_length=128",
    ]


class ComputeDtypes:
    """The dtypes a linear layer computes in ("bfloat16" under bf16 autocast, whatever the weights' dtype):
    training forwards (grad on) and generation (inference mode) apart; no_grad scoring in neither."""

    def __init__(self, model):
        import torch

        self.train: set[str] = set()
        self.generate: set[str] = set()

        def record(module, inputs, output):
            dtype = str(output.dtype).removeprefix("torch.")
            if torch.is_grad_enabled():
                self.train.add(dtype)
            elif torch.is_inference_mode_enabled():
                self.generate.add(dtype)

        self.handle = model.model.layers[0].mlp.down_proj.register_forward_hook(record)


def failures_of(task, examples: list[dict]) -> list[dict]:
    """One mined failure per example (a wrong attempt), as failures.jsonl holds them."""
    return [
        {"id": f"{ex['id']}/0", "query_id": ex["id"], "example": ex, "prompt": task.messages(ex)}
        | {"attempt": "<answer> 1 + 1 </answer>", "reason": "wrong_numbers", "query_success_rate": 0.5}
        for ex in examples
    ]


class ScriptedEngine:
    """An Engine that answers from a script instead of a model, so episode and training logic can be
    checked exactly. ``script(last_user_message, whole_context_text, sample_index) -> reply``."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.seen = tokenizer, script, []

    def generate(self, prompts, n, sampling, seed=0, on_progress=None):
        from reflectrl.rollout.engine import Sample

        out = []
        for p in prompts:
            text = self.tokenizer.decode(p)
            self.seen.append(text)
            last_user = text.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
            samples = []
            for k in range(n):
                reply = self.script(last_user, text, k)
                ids = self.tokenizer(reply, add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]
                samples.append(Sample(reply, ids, True))
            out.append(samples)
        return out

    def sync_weights(self, model):
        pass


def final_hidden_grads(model, loss_fn):
    """(loss, gradient at each position's final hidden state). Position i only feeds the prediction of token
    i + 1, so a zero there means token i + 1 carries no loss. ``loss_fn`` runs a forward and returns the loss
    to backpropagate, or runs its own backward."""
    import torch

    captured = {}

    def hook(module, args, output):
        output.retain_grad()
        captured["h"] = output

    handle = model.model.norm.register_forward_hook(hook)
    try:
        loss = loss_fn()
        if isinstance(loss, torch.Tensor):
            loss.backward()
    finally:
        handle.remove()
    return loss, captured["h"].grad


def positions_with_gradient(model, groups, train_cfg) -> tuple[set[int], object]:
    """Our update's backward on ``groups`` (one packed micro-batch): the packed positions whose final hidden
    state got gradient, and the packed batch."""
    from accelerate import Accelerator

    from reflectrl.train.loop import accumulate_gradients
    from reflectrl.train.packing import micro_batches, pack

    def run():
        return accumulate_gradients(model, None, groups, train_cfg, 64, Accelerator(cpu=True))

    _, grads = final_hidden_grads(model, run)
    grads = grads[0].abs().sum(-1)
    return set(grads.nonzero().flatten().tolist()), pack(micro_batches(groups, None)[0])


def choice_logliks(model, tokenizer, context: str, continuations: list[str]) -> list[float]:
    """Sum of log-probabilities of each continuation after the context, computed directly."""
    import torch

    ctx = tokenizer(context, add_special_tokens=False).input_ids
    out = []
    for cont in continuations:
        whole = tokenizer(context + cont, add_special_tokens=False).input_ids
        assert whole[: len(ctx)] == ctx
        with torch.no_grad():
            logits = model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
        out.append(sum(logits[i - 1, whole[i]].item() for i in range(len(ctx), len(whole))))
    return out
