"""The guard every registered verifier runs behind: a Verdict for every input, no matter what.

``register_task`` wraps each task's ``verify`` with ``guard_verify``, so every caller (eval, mine,
training rollouts, forgetting) gets the same guarantees:

* never raises: a non-``str`` completion fails with ``not_text``, one over ``max_completion_chars``
  with ``too_long``, an exception inside the verifier with ``verifier_error:<ExceptionName>``;
* always a ``Verdict`` with a short, non-empty, UTF-8-encodable reason (a reason built from model text,
  e.g. a lone surrogate ``\\ud800`` in an argument name, would otherwise break the JSONL writers);
* bounded time for user-registered verifiers: they run in a forked worker process that is killed after
  ``verify_timeout`` seconds (``timeout``), since a thread cannot be stopped and SIGALRM cannot interrupt
  C code such as a huge ``int.__pow__``. Without ``fork`` (Windows) SIGALRM bounds Python-level loops in
  the main thread. Built-in verifiers are direct calls: they bound their own input and work;
* bounded memory for the worker (Linux): ``verify_memory_mb`` of data memory beyond what it inherited,
  so a verifier that model text makes allocate hugely gets a ``MemoryError``, not the OOM killer, whose
  likely victim is the training process.

Model text is never executed here: it is only passed, as data, to the task's verifier.
"""

from __future__ import annotations

import functools
import multiprocessing
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reflectrl.console import warn
from reflectrl.tasks.base import Verdict

MAX_REASON_CHARS = 200
# (task name, reason) -> answers it hit in this process. A verifier bug scores answers as failures, which
# looks exactly like a weak model, so every stage says so on the console (first hit, then a total).
VERIFIER_ERRORS: Counter[tuple[str, str]] = Counter()
_IN_WORKER = {"on": False}  # inside a worker, nested guarded calls (super().verify) are direct


class _Timeout(BaseException):  # not an Exception: a verifier's `except Exception` must not swallow it
    pass


class _WorkerDied(Exception):
    pass


class _VerifierRaised(Exception):  # the worker's verifier raised: carries its reason and message back
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _describe(e: BaseException) -> str:
    return f"{e.__class__.__name__}: {e}"[:MAX_REASON_CHARS]


def _note_error(task: Any, verdict: Verdict, detail: str) -> Verdict:
    name = getattr(task, "name", type(task).__name__)
    if not VERIFIER_ERRORS[(name, verdict.reason)]:
        warn(f"the verifier of task {name!r} failed ({detail}); such answers are scored as failures")
    VERIFIER_ERRORS[(name, verdict.reason)] += 1
    return verdict


@contextmanager
def verifier_errors_reported(stage: str) -> Iterator[None]:
    """Warn, after ``stage``, how many answers each verifier error hit during it."""
    before = Counter(VERIFIER_ERRORS)
    try:
        yield
    finally:
        for (name, reason), n in (VERIFIER_ERRORS - before).items():
            warn(f"{stage}: the verifier of task {name!r} failed on {n} answers ({reason}); they count as failures")


def clean_verdict(verdict: Any) -> Verdict:
    """A proper Verdict: bool success, non-empty reason of bounded length that encodes as UTF-8."""
    if not isinstance(verdict, Verdict):
        return Verdict.fail(f"verifier_error:returned_{type(verdict).__name__}")
    success = verdict.success is True or (type(verdict.success) is not bool and bool(verdict.success))
    reason = verdict.reason if isinstance(verdict.reason, str) and verdict.reason else ("ok" if success else "")
    if not reason:
        return Verdict.fail("verifier_error:empty_reason")
    reason = reason[:MAX_REASON_CHARS].encode("utf-8", "replace").decode("utf-8")
    if success is verdict.success and reason is verdict.reason:
        return verdict
    return Verdict(success, reason)


def _limit_memory(extra_mb: int | None) -> None:
    """Cap this process's data memory (heap and private writable mappings, RLIMIT_DATA) at its current size
    plus ``extra_mb``: the fork inherited the parent's, so an absolute cap would bind nothing or fail at once.
    Not the address space (RLIMIT_AS): reserved, untouched ranges (malloc arenas, a GPU runtime's) would count."""
    if extra_mb is None:
        return
    try:
        import resource  # Unix only

        status = Path("/proc/self/status").read_text()
        size = int(status.split("VmData:")[1].split()[0]) * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = size + extra_mb * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    except (ImportError, OSError, IndexError, ValueError):  # no /proc (macOS) or resource (Windows): time still bounded
        pass


def _serve(task: Any, verify: Callable, conn, parent_end) -> None:
    """Worker loop: (example, completion) in, (success, reason) out, until the pipe closes."""
    # The fork copied the parent's end too: holding it, this worker would never see EOF after the parent is
    # killed (SIGKILL skips the daemon cleanup) and would sleep forever.
    parent_end.close()
    _limit_memory(getattr(task, "verify_memory_mb", None))
    _IN_WORKER["on"] = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            example, completion = conn.recv()
        except (EOFError, OSError):
            return
        detail = None
        try:
            v = clean_verdict(verify(task, example, completion))
        except BaseException as e:
            v, detail = Verdict.fail(f"verifier_error:{e.__class__.__name__}"), _describe(e)
        conn.send((v.success, v.reason, detail))


class _Worker:
    """A forked child that runs one task's verifier, so a call that hangs can be killed."""

    def __init__(self, task: Any, verify: Callable):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(task, verify, child, self.conn), daemon=True)
        self.proc.start()
        child.close()

    def call(self, example: Any, completion: str, timeout: float) -> Verdict:
        self.conn.send((example, completion))
        if not self.conn.poll(timeout):
            raise _Timeout
        success, reason, detail = self.conn.recv()  # EOFError when the verifier killed its process
        if detail:
            raise _VerifierRaised(reason, detail)
        return Verdict(success, reason)

    def close(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


_lock = threading.Lock()


def _worker_for(task: Any, verify: Callable) -> _Worker | None:
    """The task's live worker, started on first use; None where no process can be forked (Windows, or
    inside a daemonic process such as a data loader worker)."""
    worker = task.__dict__.get("_reflectrl_worker")
    if worker is not None and worker.proc.is_alive():
        return worker
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        worker = _Worker(task, verify)
    except (AssertionError, OSError, ValueError):
        return None
    task.__dict__["_reflectrl_worker"] = worker
    return worker


def _call_with_timeout(verify: Callable, task: Any, example: Any, completion: str, timeout: float) -> Verdict:
    with _lock:
        worker = _worker_for(task, verify)
        if worker is not None:
            try:
                return worker.call(example, completion, timeout)
            except (EOFError, OSError, _Timeout) as e:  # hung, or the verifier ended its own process
                task.__dict__.pop("_reflectrl_worker", None)
                worker.close()
                if isinstance(e, _Timeout):
                    raise
                raise _WorkerDied from e
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def alarm(signum, frame):
            raise _Timeout

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return verify(task, example, completion)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return verify(task, example, completion)


def guard_verify(verify: Callable, direct: bool) -> Callable:
    """``verify`` behind the guard; ``direct`` (built-in tasks) skips the worker process."""

    @functools.wraps(verify)
    def guarded(self, example: Any, completion: Any) -> Verdict:
        if not isinstance(completion, str):
            return Verdict.fail("not_text")
        if type(completion) is not str:  # a str subclass could override anything: take its plain text
            completion = str.__getitem__(completion, slice(None))
        if len(completion) > self.max_completion_chars:
            return Verdict.fail("too_long")
        timeout = None if direct or _IN_WORKER["on"] else self.verify_timeout
        try:
            if timeout is None:
                v = clean_verdict(verify(self, example, completion))
            else:
                v = clean_verdict(_call_with_timeout(verify, self, example, completion, timeout))
        except _Timeout:  # counted like an error: a verifier that always times out looks like a weak model
            v, detail = Verdict.fail("timeout"), f"it ran longer than verify_timeout={timeout} s"
        except _WorkerDied:
            v, detail = Verdict.fail("verifier_error:worker_died"), "its process died"
        except _VerifierRaised as e:
            v, detail = Verdict.fail(e.reason), str(e)
        except Exception as e:  # a verifier bug costs one sample, not a training run
            v, detail = Verdict.fail(f"verifier_error:{e.__class__.__name__}"), _describe(e)
        else:
            if not v.reason.startswith("verifier_error:"):
                return v
            what = v.reason.removeprefix("verifier_error:").replace("returned_", "a ").replace("_", " ")
            detail = f"it returned {what}, not Verdict.ok() or Verdict.fail(reason)"
        return v if _IN_WORKER["on"] else _note_error(self, v, detail)

    guarded.__reflectrl_guarded__ = True  # type: ignore[attr-defined]
    return guarded


_ANSWER_HOOK_FAILURES: set[tuple[str, str, str]] = set()  # (task, hook, what went wrong): warned once each


def guard_answer_hook(fn: Callable, hook: str) -> Callable:
    """A user task's ``answer_key`` or ``answer_in`` behind a guard: model text in, a ``str`` or None out, never
    an exception. They read every reflection and vote; a bug that raises on text it cannot parse would end an
    eval at the first such reflection. A failure counts as "no answer" and is warned about once."""

    @functools.wraps(fn)
    def guarded(self, example: Any, text: Any) -> str | None:
        try:
            key = fn(self, example, text)
        except Exception as e:
            kind, problem = e.__class__.__name__, _describe(e)
        else:
            if key is None or isinstance(key, str):
                return key
            kind = f"returned_{type(key).__name__}"
            problem = f"it returned a {type(key).__name__}, not a str or None"
        name = getattr(self, "name", type(self).__name__)
        if (name, hook, kind) not in _ANSWER_HOOK_FAILURES:
            _ANSWER_HOOK_FAILURES.add((name, hook, kind))
            warn(f"{hook}() of task {name!r} failed ({problem}); such text counts as holding no answer")
        return None

    guarded.__reflectrl_guarded__ = True  # type: ignore[attr-defined]
    return guarded
