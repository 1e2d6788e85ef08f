"""The fast HF engine against plain ``model.generate``, its sampler, prefix store and fallbacks; the
vLLM backend's wiring (and, where vLLM is installed, its outputs and weight sync)."""

import copy
import sys
from types import SimpleNamespace

import pytest
import torch
from tiny import lively as make_lively

from reflectrl.config import EngineConfig
from reflectrl.errors import ReflectrlError
from reflectrl.rollout import check_engine, make_engine
from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.gqa_attention import GQA_SDPA, gqa_attention
from reflectrl.rollout.hf import HFEngine

GREEDY = Sampling(max_new_tokens=16, temperature=0)


@pytest.fixture(scope="module")
def lively(tiny_lm):
    """tests/tiny.py's lively model: context-dependent greedy output, rows ending at different lengths."""
    model, tok = tiny_lm
    model, prompts, eos = make_lively(model, tok)
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


@pytest.mark.parametrize(("device", "inside"), [("cpu", GQA_SDPA), ("cuda", "sdpa")])
def test_gqa_attention_swaps_on_cpu_only(device, inside):
    """The hardware branch of gqa_attention (the fast loop and score enter it), forced either way on any machine:
    CUDA SDPA kernels do not take a mask with enable_gqa, so there the attention stays transformers' SDPA."""
    model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"), device=torch.device(device))
    with gqa_attention(model):
        assert model.config._attn_implementation == inside
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
    for prompt, samples in zip(prompts, sampled, strict=True):
        for x in samples:
            assert x.finished == (x.token_ids[-1] in engine.eos_ids) and 1 <= len(x.token_ids) <= 8
            # top_p 1, no top-k: vLLM's processed log-probs are exactly ours (up to its numerics).
            expected = _recomputed_logprobs(model, prompt, x.token_ids, hot.temperature)
            assert torch.allclose(torch.tensor(x.logprobs), expected, atol=1e-3)

    with torch.no_grad():  # a training step elsewhere; vLLM sees it only after sync_weights
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.add_(torch.randn_like(p) * 0.2)
    before = _ids(engine.generate(prompts, 1, s))
    engine.sync_weights(model)
    after = _ids(engine.generate(prompts, 1, s))
    expected = _ids(hf.generate(prompts, 1, s))
    assert after == expected and before != expected


# -- Sample.logprobs: the sampler's own log-prob of each token ----------------------------------------


def _recomputed_logprobs(model, prompt: list[int], ids: list[int], temperature: float) -> torch.Tensor:
    """log_softmax(logits / T) at each sampled id, from one forward over prompt + ids (T = 1 when greedy)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1].float()
    t = temperature if temperature > 0 else 1.0
    return (logits / t).log_softmax(-1).gather(-1, torch.tensor(ids)[:, None]).squeeze(-1)


@pytest.mark.parametrize("mode", ["fast", "naive"])
@pytest.mark.parametrize("sampling", [Sampling(max_new_tokens=12, temperature=0.7, top_p=0.9), GREEDY])
def test_logprobs_are_the_samplers_before_top_p(lively, mode, sampling):
    model, tok, prompts, eos = lively
    model = copy.deepcopy(model).float()
    engine = HFEngine(model, tok, batch_size=4, mode=mode)  # naive: left-padded batches of 4
    engine.eos_ids = engine.eos_ids | eos
    out = engine.generate(prompts, 2, sampling, seed=3)
    assert any(s.finished for samples in out for s in samples)  # the end token's log-prob is checked too
    for prompt, samples in zip(prompts, out, strict=True):
        for s in samples:
            assert s.logprobs is not None and len(s.logprobs) == len(s.token_ids)
            expected = _recomputed_logprobs(model, prompt, s.token_ids, sampling.temperature)
            assert torch.allclose(torch.tensor(s.logprobs), expected, atol=1e-4), (s.logprobs, expected)


def test_logprobs_do_not_depend_on_batch_layout(lively):
    model, tok, prompts, _ = lively
    s = Sampling(max_new_tokens=12, temperature=1.0, top_k=20)
    a = HFEngine(model, tok, batch_size=2).generate(prompts, 3, s, seed=7)
    b = HFEngine(model, tok, batch_size=32).generate(prompts, 3, s, seed=7)
    assert _ids(a) == _ids(b)
    for x, y in zip([s for g in a for s in g], [s for g in b for s in g], strict=True):
        assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)


def test_score_is_the_log_prob_the_sampler_gave_each_continuation(lively):
    """HFEngine.score (train.retry_reward: expected): one call scores continuations of different lengths after one
    prompt (right-padded, the prompt's KV shared), in chunks or not, and gives what the sampler gave each, summed; a
    prefix of a continuation scores its own tokens only. Greedy decoding has nothing to score."""
    model, tok, prompts, eos = lively
    model = copy.deepcopy(model).float()
    engine = HFEngine(model, tok, batch_size=4)
    engine.eos_ids = engine.eos_ids | eos
    hot = Sampling(max_new_tokens=12, temperature=0.7)
    model.train()  # as in training: scored in eval mode, then handed back in train mode
    for prompt, samples in zip(prompts, engine.generate(prompts, 3, hot, seed=5), strict=True):
        ids = [s.token_ids for s in samples] + [samples[0].token_ids[:1]]
        assert len({len(c) for c in ids}) > 1  # different lengths, so padding is exercised
        want = [sum(s.logprobs) for s in samples] + [samples[0].logprobs[0]]
        assert engine.score(prompt, ids, 0.7) == pytest.approx(want, abs=1e-4)
        assert engine.score(prompt, ids, 0.7, chunk=3) == pytest.approx(want, abs=1e-4)  # a chunk of 3, then of 1
    assert model.training
    assert engine.score(prompts[0], [], 0.7) == []
    with pytest.raises(ValueError, match="temperature > 0"):
        engine.score(prompts[0], [[1]], 0.0)


def test_score_continues_the_stored_conversation_and_sums_the_ends(lively):
    """A retry context continues a reflection the engine just sampled: score takes that KV from the prefix store and
    gives what it gives from scratch. ``then`` adds log P(one of those ids comes next), as scoring the continuation
    once per end id and summing the probabilities would, and as the naive engine (no prefix store) gives."""
    model, tok, prompts, eos = lively
    model = copy.deepcopy(model).float()
    warm, cold = HFEngine(model, tok, batch_size=4), HFEngine(model, tok, batch_size=4, prefix_cache_gb=0)
    naive = HFEngine(model, tok, mode="naive")
    for e in (warm, cold, naive):
        e.eos_ids = e.eos_ids | eos
    first = warm.generate(prompts, 1, Sampling(max_new_tokens=12, temperature=0.7), seed=3)
    follow = [
        p + s[0].token_ids + turn_glue(tok, "Try again.", s[0].token_ids[-1] if s[0].finished else None)
        for p, s in zip(prompts, first, strict=True)
    ]
    continuations, ends = [[5, 6, 7], [8], [9, 10, 11, 12]], sorted(warm.eos_ids)
    for ctx in follow:
        each = cold.score(ctx, [c + [e] for c in continuations for e in ends], 0.7)
        want = [torch.tensor(each[i * len(ends) : (i + 1) * len(ends)]).logsumexp(0).item() for i in range(3)]
        assert warm.score(ctx, continuations, 0.7, ends) == pytest.approx(want, abs=1e-4)
        assert naive.score(ctx, continuations, 0.7, ends) == pytest.approx(want, abs=1e-4)
        assert cold.score(ctx, continuations, 0.7) == pytest.approx(cold.score(ctx, continuations, 0.7, []), abs=0)
    assert warm.stats["scored_cached_tokens"] >= sum(len(p) for p in prompts)  # every retry context hit its turn
    assert cold.stats["scored_cached_tokens"] == 0


def test_an_engine_that_cannot_score_says_which_can():
    from reflectrl.rollout.engine import Engine

    class Generating(Engine):
        def generate(self, prompts, n, sampling, seed=0, on_progress=None):
            return []

    with pytest.raises(ReflectrlError, match=r"the Generating cannot score continuations: use engine\.name=hf"):
        Generating().score([1], [[2]], 1.0)


class _FakeLLM:
    """A ``vllm.LLM``: completion j of a prompt p is [p[-1], j + 5, eos] (even j) or [p[-1], j + 5, j + 6],
    returned in reverse index order; each position's logprobs dict also holds a token that was not sampled."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls: list[tuple[list, list]] = []

    def generate(self, prompts, params, use_tqdm):
        self.calls.append((prompts, params))
        eos = params[0]["stop_token_ids"][0]
        outs = []
        for p, sp in zip(prompts, params, strict=True):
            completions = []
            for j in range(sp["n"]):
                ids = [p[-1], j + 5] + ([eos] if j % 2 == 0 else [j + 6])
                lps = [
                    {tok: SimpleNamespace(logprob=-(j + t / 10)), 1: SimpleNamespace(logprob=-0.01)}
                    for t, tok in enumerate(ids)
                ]
                completions.append(SimpleNamespace(index=j, token_ids=tuple(ids), logprobs=lps))
            outs.append(SimpleNamespace(outputs=completions[::-1]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    """``import vllm`` gives a stand-in: SamplingParams are their kwargs, TokensPrompt its ids, LLM a _FakeLLM."""
    import types

    import reflectrl.rollout.vllm as vllm_module

    module, inputs = types.ModuleType("vllm"), types.ModuleType("vllm.inputs")
    module.SamplingParams = lambda **kwargs: kwargs
    module.LLM = _FakeLLM
    module.inputs = inputs
    inputs.TokensPrompt = lambda prompt_token_ids: prompt_token_ids
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    monkeypatch.setattr(vllm_module, "vllm_available", lambda: True)
    for name in ("VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE", "VLLM_ENABLE_V1_MULTIPROCESSING"):
        monkeypatch.setenv(name, "0")  # restored afterwards; the engine only sets them by default
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "WARNING")
    return module


def test_vllm_engine_asks_for_processed_logprobs_and_maps_them(fake_vllm, tiny_lm):
    from reflectrl.rollout.vllm import VLLMEngine

    model, tok = tiny_lm
    eos = tok.eos_token_id
    engine = VLLMEngine.from_model(model, tok)
    assert engine.llm.kwargs["logprobs_mode"] == "processed_logprobs"
    out = engine.generate([[10, 11], [12]], 3, Sampling(max_new_tokens=4, temperature=0.7), seed=1)
    params = engine.llm.calls[-1][1]
    assert [(p["n"], p["logprobs"]) for p in params] == [(3, 0), (3, 0)]
    assert [[s.token_ids for s in g] for g in out] == [
        [[11, 5, eos], [11, 6, 7], [11, 7, eos]],
        [[12, 5, eos], [12, 6, 7], [12, 7, eos]],
    ]
    assert [s.logprobs for s in out[1]] == [[-0.0, -0.1, -0.2], [-1.0, -1.1, -1.2], [-2.0, -2.1, -2.2]]
    greedy = engine.generate([[10]], 3, GREEDY)
    assert engine.llm.calls[-1][1][0]["n"] == 1
    assert [(s.token_ids, s.logprobs) for s in greedy[0]] == [([10, 5, eos], [-0.0, -0.1, -0.2])] * 3
    assert greedy[0][0].logprobs is not greedy[0][1].logprobs  # copies, not one list shared


def test_vllm_engine_gets_the_models_trust_remote_code(fake_vllm, tiny_lm):
    model, tok = tiny_lm
    assert make_engine(EngineConfig(name="vllm"), model, tok).llm.kwargs["trust_remote_code"] is False
    assert make_engine(EngineConfig(name="vllm"), model, tok, trust_remote_code=True).llm.kwargs["trust_remote_code"]


class _LogprobClient:
    """TRL's VLLMClient.generate with logprobs: per position, log-probs sorted by probability (the sampled
    token second here, after a likelier one) and their token ids; None when the server returned none."""

    def __init__(self, eos: int, with_logprobs: bool = True):
        self.eos, self.with_logprobs = eos, with_logprobs
        self.calls: list[dict] = []

    def generate(self, prompts, n, max_tokens, generation_kwargs, **kw):
        self.calls.append({"prompts": prompts, "n": n, **generation_kwargs, **kw})
        ids, values, value_ids = [], [], []
        for p in prompts:
            for j in range(n):
                ids.append([p[-1], j + 5] + ([self.eos] if j % 2 == 0 else [j + 6]))
                values.append([[-0.01, -(j + t / 10)] for t in range(3)])
                value_ids.append([[1, tok] for tok in ids[-1]])
        if not self.with_logprobs:
            values = value_ids = None
        return {"completion_ids": ids, "prompt_ids": prompts, "logprobs": values, "logprob_token_ids": value_ids}


def test_server_engine_maps_logprobs(tiny_lm):
    from reflectrl.rollout.vllm import VLLMServerEngine

    _, tok = tiny_lm
    eos = tok.eos_token_id
    client = _LogprobClient(eos)
    engine = VLLMServerEngine(client, tok, {eos})
    out = engine.generate([[10, 11], [12]], 3, Sampling(max_new_tokens=4, temperature=0.7), 5)
    assert client.calls[-1]["logprobs"] == 0
    assert [[s.token_ids for s in g] for g in out][1] == [[12, 5, eos], [12, 6, 7], [12, 7, eos]]
    for g in out:
        assert [s.logprobs for s in g] == [[-0.0, -0.1, -0.2], [-1.0, -1.1, -1.2], [-2.0, -2.1, -2.2]]
    greedy = engine.generate([[10]], 3, GREEDY, 0)
    assert client.calls[-1]["n"] == 1
    assert [(s.token_ids, s.logprobs) for s in greedy[0]] == [([10, 5, eos], [-0.0, -0.1, -0.2])] * 3
    none = VLLMServerEngine(_LogprobClient(eos, with_logprobs=False), tok, {eos}).generate([[10]], 1, GREEDY)
    assert none[0][0].logprobs is None


class _WeightClient:
    """TRL's VLLMClient weight calls. Tensors are copied as they stream by (NCCL sends them then): a LoRA
    model is unmerged again once the iterator is done."""

    def __init__(self):
        self.updates: list[tuple[list, list]] = []
        self.resets = 0

    def update_named_params(self, metadata, named_params):
        self.updates.append((metadata, [(name, t.clone()) for name, t in named_params]))

    def reset_prefix_cache(self):
        self.resets += 1


def test_server_engine_sync_pushes_every_weight_then_resets_the_prefix_cache(tiny_lm):
    from reflectrl.rollout.vllm import VLLMServerEngine

    model, tok = tiny_lm
    client = _WeightClient()
    engine = VLLMServerEngine(client, tok, set())
    engine.sync_weights(model)
    engine.sync_weights(model)
    expected = model.state_dict()
    assert client.resets == 2 and len(client.updates) == 2
    metadata, pushed = client.updates[0]
    assert [name for name, _ in pushed] == list(expected)
    assert metadata == [(n, str(t.dtype).removeprefix("torch."), list(t.shape)) for n, t in expected.items()]
    assert all(torch.equal(t, expected[name]) for name, t in pushed)
    VLLMServerEngine(None, tok, set()).sync_weights(model)  # not the main process: nothing to push


def test_server_engine_sync_merges_lora_under_plain_names(tiny_lm):
    from peft import LoraConfig, get_peft_model

    from reflectrl.rollout.vllm import VLLMServerEngine

    base, tok = tiny_lm
    torch.manual_seed(0)
    model = get_peft_model(
        copy.deepcopy(base), LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    merged = copy.deepcopy(model).merge_and_unload().state_dict()
    client = _WeightClient()
    VLLMServerEngine(client, tok, set()).sync_weights(model)
    metadata, pushed = client.updates[0]
    assert [name for name, _ in pushed] == list(base.state_dict()) == [m[0] for m in metadata]
    assert all(torch.allclose(t, merged[name], atol=1e-6) for name, t in pushed)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(dict(pushed)[q], base.state_dict()[q])  # the adapter is in what was pushed
    # Unmerged afterwards (up to rounding: merge then unmerge adds and subtracts the adapter's product).
    unmerged = model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight
    assert torch.allclose(unmerged, base.state_dict()[q], atol=1e-6)


class _FakeVLLMClient:
    def __init__(self, base_url, group_port, connection_timeout, logprobs_mode="processed_logprobs"):
        self.init = {"base_url": base_url, "group_port": group_port, "connection_timeout": connection_timeout}
        self.logprobs_mode = logprobs_mode
        self.devices: list = []

    def init_communicator(self, device):
        self.devices.append(device)

    def get_server_info(self):
        return {"model_config": {"logprobs_mode": self.logprobs_mode}}


def test_server_engine_connects_on_the_main_process(tiny_lm, monkeypatch):
    import trl.generation.vllm_client as client_mod

    from reflectrl.rollout.vllm import server_engine

    model, tok = tiny_lm
    monkeypatch.setattr(client_mod, "VLLMClient", _FakeVLLMClient)
    cfg = EngineConfig(
        name="vllm", vllm_mode="server", vllm_server_url="http://h:9", vllm_server_timeout=3, vllm_group_port=777
    )
    engine = server_engine(cfg, model, tok)
    assert engine.client.init == {"base_url": "http://h:9", "group_port": 777, "connection_timeout": 3}
    assert engine.client.devices == [torch.device("cuda", 0)]
    assert engine.eos_ids == {tok.eos_token_id}

    monkeypatch.setattr(client_mod, "VLLMClient", lambda **kw: _FakeVLLMClient(**kw, logprobs_mode="raw_logprobs"))
    with pytest.raises(ReflectrlError, match="--logprobs-mode processed_logprobs"):
        server_engine(cfg, model, tok)


def test_server_engine_without_a_server_is_one_line(tiny_lm, monkeypatch):
    import trl.generation.vllm_client as client_mod

    from reflectrl.rollout.vllm import server_engine, vllm_available

    model, tok = tiny_lm
    cfg = EngineConfig(name="vllm", vllm_mode="server", vllm_server_url="http://127.0.0.1:9", vllm_server_timeout=0)
    if not vllm_available():
        with pytest.raises(ReflectrlError, match="needs vLLM"):
            server_engine(cfg, model, tok)
    monkeypatch.setattr(client_mod, "is_vllm_available", lambda *a, **k: True)
    with pytest.raises(ReflectrlError, match=r"no vLLM server answers at http://127.0.0.1:9 .*processed_logprobs"):
        server_engine(cfg, model, tok)
