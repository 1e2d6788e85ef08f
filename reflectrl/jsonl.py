"""Crash-safe files (append-only JSONL that resumes after a kill, atomic whole-file writes) and the readers of
users' data files (``json_objects``, ``data_records``), whose bad lines are one-line errors naming file and line."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError


def read_jsonl(path: str | Path, *, repair: bool = False, input_file: bool = False) -> list[dict[str, Any]]:
    """Read every complete record. A torn last line (the process was killed mid-write) is dropped,
    and with ``repair=True`` also cut from the file so that appends continue cleanly. An ``input_file`` (one
    given to a command, not one it resumes) keeps a whole last record that lacks only its newline ("\\n".join).
    A ``.gz`` file (an archived evaluation) is read as the JSONL it compresses, never repaired."""
    path = Path(path)
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    good_bytes = 0
    zipped = path.suffix == ".gz"
    with gzip.open(path, "rb") if zipped else path.open("rb") as f:
        for lineno, raw in enumerate(_gzip_lines(f, path) if zipped else f, 1):
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                if not raw.endswith(b"\n"):
                    break  # torn tail: written without its newline, so never acknowledged
                raise ReflectrlError(f"{path}:{lineno}: corrupt JSONL record ({e.__class__.__name__}: {e})") from e
            if not raw.endswith(b"\n") and not input_file:
                break  # whole, but unacknowledged: the resumed writer writes it again
            records.append(record)
            good_bytes += len(raw)
    if repair and not zipped and good_bytes != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_bytes)
    return records


def _gzip_lines(f: Iterable[bytes], path: Path) -> Iterator[bytes]:
    try:
        yield from f
    except (OSError, EOFError) as e:  # gzip: BadGzipFile is an OSError; a cut-off archive raises EOFError
        raise ReflectrlError(f"{path}: not a readable gzip file ({e.__class__.__name__}: {e})") from e


def json_objects(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a user's data file; a line that is not a JSON object
    (bad JSON, not UTF-8, an integer too long or nesting too deep to parse) is a one-line error naming the file
    and line."""
    try:
        lines = Path(path).read_bytes().splitlines()  # bytes: each line is decoded on its own, so a bad one is named
    except OSError as e:
        raise ReflectrlError(f"{path}: cannot read ({e.strerror})") from e
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            what = e.msg if isinstance(e, json.JSONDecodeError) else f"{e.__class__.__name__}: {e}"[:200]
            raise ReflectrlError(f"{path}:{line_no}: not a JSON object per line ({what})") from e
        if not isinstance(row, dict):
            raise ReflectrlError(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
        yield line_no, row


@dataclass(frozen=True)
class BadLine:
    """A line of a data file that is not JSON. Task loaders skip and count it, or with ``strict`` stop on it
    with a one-line error naming the file and line (``where`` from ``data_records``)."""

    error: str  # json's message, e.g. "Expecting value"


def data_records(path: str | Path) -> list[tuple[str, Any]]:
    """(where, record) for every record of a task's data file: JSON Lines (``where`` is ``file:line``), a
    ``.json`` file holding one JSON list (``file:item i``) or Parquet (``file:row i``). A line that is not JSON
    comes back as a ``BadLine``, so one bad line need not cost the whole file; a file that cannot be read or
    parsed at all is a ReflectrlError. Records are not checked: each task knows its own fields."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        except Exception as e:
            raise ReflectrlError(f"{path}: cannot read Parquet ({e.__class__.__name__}: {e})") from e
        return [(f"{path}:row {i}", r) for i, r in enumerate(rows)]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReflectrlError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from e
    if path.suffix == ".json" and text.lstrip().startswith("["):  # one JSON list, e.g. xLAM's own release
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise ReflectrlError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
        except (ValueError, RecursionError) as e:  # an int over Python's digit limit, absurd nesting
            raise ReflectrlError(f"{path}: invalid JSON ({e.__class__.__name__}: {e})") from e
        return [(f"{path}:item {i}", r) for i, r in enumerate(rows)]
    records: list[tuple[str, Any]] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((f"{path}:{line_no}", json.loads(line)))
        except json.JSONDecodeError as e:
            records.append((f"{path}:{line_no}", BadLine(e.msg)))
        except (ValueError, RecursionError) as e:
            records.append((f"{path}:{line_no}", BadLine(f"{e.__class__.__name__}: {e}")))
    return records


class JsonlWriter:
    """Append records, one flushed and fsynced line at a time, so a kill loses at most the line in flight."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        read_jsonl(self.path, repair=True)
        # backslashreplace writes a lone surrogate (e.g. "\ud800" decoded from model JSON) as the JSON
        # escape it came from, so such a record round-trips instead of failing the whole write.
        self._f = self.path.open("a", encoding="utf-8", errors="backslashreplace")

    def write(self, record: dict[str, Any]) -> None:
        self.write_many([record])

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        try:
            self._f.write(lines)
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:  # e.g. a full disk: name the file; a torn last line is cut on the next open
            self._abandon()
            raise ReflectrlError(
                f"{self.path}: cannot write ({e.strerror or e}); the records written before are kept: "
                "rerun the same command to resume"
            ) from e

    def _abandon(self) -> None:
        """Close after a failed write; the flush inside close() may fail again, the descriptor is closed anyway."""
        with contextlib.suppress(OSError):
            self._f.close()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file so that readers see either the old or the new content, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ReflectrlError(f"{path}: cannot write ({e.strerror or e}); the previous version is kept") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks (benchmark files are recorded with their hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """Where converted models, generated data and other caches live; ``REFLECTRL_CACHE`` moves it."""
    return Path(os.environ.get("REFLECTRL_CACHE") or Path.home() / ".cache" / "reflectrl").expanduser()
