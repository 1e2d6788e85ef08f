"""Generation engines and the attempt -> reflect -> retry episode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflectrl.rollout.engine import Engine, Sample, Sampling

if TYPE_CHECKING:
    from reflectrl.config import EngineConfig

__all__ = ["Engine", "Sample", "Sampling", "check_engine", "make_engine"]


def check_engine(cfg: EngineConfig) -> None:
    """Fail fast, before a model is loaded, when the configured engine is not installed."""
    from reflectrl.errors import ReflectrlError

    if cfg.name == "vllm":
        from reflectrl.rollout.vllm import INSTALL_HINT, vllm_available

        if not vllm_available():
            raise ReflectrlError(INSTALL_HINT)


def make_engine(cfg: EngineConfig, model, tokenizer, trust_remote_code: bool = False, copy_dtype=None) -> Engine:
    """The engine a config asks for, generating with ``model`` (or a copy of its weights).
    ``trust_remote_code``: the model config's flag, so vLLM loads a custom-code model the way transformers did.
    ``copy_dtype`` (hf): generate from an own copy of ``model`` in this dtype, refreshed by ``sync_weights``."""
    from reflectrl.errors import ReflectrlError

    if cfg.name == "hf":
        from reflectrl.rollout.hf import HFEngine, cast_copy

        model = cast_copy(model, copy_dtype) if copy_dtype is not None else model
        return HFEngine(model, tokenizer, batch_size=cfg.batch_size, mode=cfg.hf_mode)
    if cfg.name == "vllm":
        from reflectrl.rollout.vllm import VLLMEngine

        return VLLMEngine.from_model(
            model,
            tokenizer,
            kv_cache_gb=cfg.vllm_kv_cache_gb,
            gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            enforce_eager=cfg.vllm_enforce_eager,
            max_model_len=cfg.vllm_max_model_len,
            trust_remote_code=trust_remote_code,
        )
    raise ReflectrlError(f"unknown engine {cfg.name!r}")
