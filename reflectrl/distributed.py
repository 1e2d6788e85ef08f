"""Several processes under ``accelerate launch``: which process this is, and sharded resumable JSONL.

Rank and world size come from accelerate's ``PartialState`` (which also sets up the process group:
NCCL on GPUs, gloo with ``--cpu``). A plain single-process run never touches it, so its files and
behaviour are exactly those of a run without accelerate.

Mining and evaluation work in fixed chunks seeded by their content. With W processes, process r
takes chunks r, r + W, r + 2W, ... and appends its records to its own part file
(``mined.part-r.jsonl``); after a barrier the main process merges every part into the one file a
single process would have written, in query order, without duplicates, and removes the parts. A
killed run resumes per process from the merged file plus every part left behind, whatever the
number of processes was when it was killed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json, atomic_write_text, read_jsonl


def world_size() -> int:
    """Processes in this run, from the launcher's environment (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _state():
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # As accelerate's own AcceleratorState does: ACCELERATE_USE_CPU (or no GPU at all) means gloo on CPU.
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())


def rank() -> int:
    return _state().process_index if world_size() > 1 else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        _state().wait_for_everyone()


def my_chunks(n_items: int, chunk_size: int) -> list[int]:
    """Start offsets of the chunks this process works on (all of them in a single process)."""
    starts = list(range(0, n_items, chunk_size))
    return starts[rank() :: world_size()]


def part_path(path: Path) -> Path:
    """Where this process appends: ``path`` itself in a single process, else its own part file."""
    return path if world_size() == 1 else path.with_name(f"{path.stem}.part-{rank()}{path.suffix}")


def _parts(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.stem}.part-*{path.suffix}"))


def done_ids(path: Path) -> set[Any]:
    """Ids already written: the merged file and every part file (left by a killed multi-process run)."""
    done = {r["id"] for r in read_jsonl(path, repair=True)}
    for part in _parts(path):
        done |= {r["id"] for r in read_jsonl(part, repair=part == part_path(path))}
    return done


def merge_parts(path: Path, order: Sequence[Any]) -> None:
    """After every process is done: fold the part files into ``path`` (records in ``order`` of their id,
    then any others as they were, one record per id), atomically, and remove the parts.
    A no-op in a single process with no parts lying around."""
    barrier()
    parts = _parts(path)
    if is_main() and parts:
        by_id: dict[Any, dict[str, Any]] = {}
        for source in [path, *parts]:
            for r in read_jsonl(source):
                by_id.setdefault(r["id"], r)
        position = {key: i for i, key in enumerate(order)}
        ids = sorted(by_id, key=lambda k: (0, position[k]) if k in position else (1, 0))
        atomic_write_text(path, "".join(json.dumps(by_id[k], ensure_ascii=False) + "\n" for k in ids))
        for part in parts:
            part.unlink()
    barrier()


def check_identity(path: Path, identity: dict[str, Any]) -> None:
    """Record what a results folder holds; resuming into it with other settings is an error, not a silent mix."""
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (ValueError, OSError) as e:  # written atomically: damaged by hand or by the disk
            raise ReflectrlError(f"{path} cannot be read ({type(e).__name__}); delete it or use another --out") from e
        if previous != json.loads(json.dumps(identity)):
            raise ReflectrlError(
                f"{path.parent} already holds results with other settings ({path}); "
                "use another --out folder or delete it"
            )
    elif is_main():
        atomic_write_json(path, identity)


def reduce_value(accelerator, value: float, how: str) -> float:
    """``value`` reduced over accelerate's processes ('min', 'max', 'mean' or 'sum'); itself in a single process."""
    if accelerator.num_processes == 1:
        return value
    import torch

    t = torch.tensor([float(value)], device=accelerator.device)
    if how in ("min", "max"):
        op = torch.distributed.ReduceOp.MIN if how == "min" else torch.distributed.ReduceOp.MAX
        torch.distributed.all_reduce(t, op=op)
        return t.item()
    return accelerator.reduce(t, reduction=how).item()
