"""Generation engines and the attempt -> reflect -> retry episode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reflectrl.rollout.engine import Engine, Sample, Sampling

if TYPE_CHECKING:
    from reflectrl.config import EngineConfig

__all__ = ["Engine", "Sample", "Sampling", "make_engine"]


def make_engine(cfg: EngineConfig, model, tokenizer) -> Engine:
    """The engine a config asks for, generating with ``model`` (or a copy of its weights)."""
    from reflectrl.errors import ReflectrlError

    if cfg.name == "hf":
        from reflectrl.rollout.hf import HFEngine

        return HFEngine(model, tokenizer, batch_size=cfg.batch_size)
    raise ReflectrlError(f"engine {cfg.name!r} is not available in this build")
