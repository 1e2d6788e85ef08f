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

A user task's other hooks that read model text (``answer_key``, ``answer_in``, ``answer_verifies``, ``feedback``)
run in the same worker under the same bounds (a parsing regex can backtrack for hours on the wrong text); one that
raises, hangs or returns the wrong type counts as "no answer" (feedback: the verifier's reason), warned once.

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
from reflectrl.tasks.base import Task, Verdict

MAX_REASON_CHARS = 200
# (task name, reason) -> answers it hit in this process. A verifier bug scores answers as failures, which
# looks exactly like a weak model, so every stage says so on the console (first hit, then a total).
VERIFIER_ERRORS: Counter[tuple[str, str]] = Counter()
# Inside a bounded call (in the worker, or under SIGALRM here), nested guarded calls (super().verify, a hook
# calling another) are direct: the outer call's bound covers them, and a nested alarm would replace its alarm.
_BOUNDED = {"on": False}


class _Timeout(BaseException):  # not an Exception: a verifier's `except Exception` must not swallow it
    pass


class _WorkerDied(Exception):
    pass


class _Raised(Exception):  # the worker's call raised: carries its reason and message back
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


def _call_unguarded(task: Any, method: str, example: Any, text: str) -> Any:
    """``task.<method>`` as the user wrote it (what the guard wraps), its result small and picklable: verify's
    as (success, reason), a hook's as its str, bool or None, or ("returned", type name) for anything else."""
    fn = getattr(type(task), method)
    result = getattr(fn, "__wrapped__", fn)(task, example, text)
    if method == "verify":
        v = clean_verdict(result)
        return v.success, v.reason
    return result if result is None or isinstance(result, str | bool) else ("returned", type(result).__name__)


def _serve(task: Any, conn, parent_end) -> None:
    """Worker loop: (method, example, text) in, (value, None, None) or (None, reason, detail) out, until the
    pipe closes."""
    # The fork copied the parent's end too: holding it, this worker would never see EOF after the parent is
    # killed (SIGKILL skips the daemon cleanup) and would sleep forever.
    parent_end.close()
    _limit_memory(getattr(task, "verify_memory_mb", None))
    _BOUNDED["on"] = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            method, example, text = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (_call_unguarded(task, method, example, text), None, None)
        except BaseException as e:
            reply = (None, f"verifier_error:{e.__class__.__name__}", _describe(e))
        conn.send(reply)


class _Worker:
    """A forked child that runs one task's verifier (and hooks), so a call that hangs can be killed."""

    def __init__(self, task: Any):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(task, child, self.conn), daemon=True)
        self.proc.start()
        child.close()

    def call(self, method: str, example: Any, text: str, timeout: float) -> Any:
        self.conn.send((method, example, text))
        if not self.conn.poll(timeout):
            raise _Timeout
        value, reason, detail = self.conn.recv()  # EOFError when the verifier killed its process
        if reason:
            raise _Raised(reason, detail)
        return value

    def close(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


_lock = threading.Lock()


def _worker_for(task: Any) -> _Worker | None:
    """The task's live worker, started on first use; None where no process can be forked (Windows, or
    inside a daemonic process such as a data loader worker)."""
    worker = task.__dict__.get("_reflectrl_worker")
    if worker is not None and worker.proc.is_alive():
        return worker
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        worker = _Worker(task)
    except (AssertionError, OSError, ValueError):
        return None
    task.__dict__["_reflectrl_worker"] = worker
    return worker


def _call_with_timeout(task: Any, method: str, example: Any, text: str, timeout: float) -> Any:
    """``_call_unguarded`` in the task's worker, or (no fork) here under SIGALRM, within ``timeout`` seconds."""
    with _lock:
        worker = _worker_for(task)
        if worker is not None:
            try:
                return worker.call(method, example, text, timeout)
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
        _BOUNDED["on"] = True
        try:
            return _call_unguarded(task, method, example, text)
        finally:
            _BOUNDED["on"] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return _call_unguarded(task, method, example, text)


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
        timeout = None if direct or _BOUNDED["on"] else self.verify_timeout
        try:
            if timeout is None:
                v = clean_verdict(verify(self, example, completion))
            else:
                v = Verdict(*_call_with_timeout(self, "verify", example, completion, timeout))
        except _Timeout:  # counted like an error: a verifier that always times out looks like a weak model
            v, detail = Verdict.fail("timeout"), f"it ran longer than verify_timeout={timeout} s"
        except _WorkerDied:
            v, detail = Verdict.fail("verifier_error:worker_died"), "its process died"
        except _Raised as e:
            v, detail = Verdict.fail(e.reason), str(e)
        except Exception as e:  # a verifier bug costs one sample, not a training run
            v, detail = Verdict.fail(f"verifier_error:{e.__class__.__name__}"), _describe(e)
        else:
            if not v.reason.startswith("verifier_error:"):
                return v
            what = v.reason.removeprefix("verifier_error:").replace("returned_", "a ").replace("_", " ")
            detail = f"it returned {what}, not Verdict.ok() or Verdict.fail(reason)"
        return v if _BOUNDED["on"] else _note_error(self, v, detail)

    guarded.__reflectrl_guarded__ = True  # type: ignore[attr-defined]
    return guarded


_HOOK_FAILURES: set[tuple[str, str, str]] = set()  # (task, hook, what went wrong): warned once each


def guard_text_hook(fn: Callable, hook: str) -> Callable:
    """A user task's ``answer_key``, ``answer_in``, ``answer_verifies`` or ``feedback`` behind the verifier's bounds:
    model text in, never an exception or a hang. They read every reflection (and vote, or write the feedback
    variant's prompt): a bug that raises on text it cannot parse would end an eval at the first such text. A failure
    counts as no answer (None; answer_verifies: False; feedback: the default, the verifier's reason) and is warned
    about once."""

    feedback = hook == "feedback"  # must give text: None is a failure too
    verdict = hook == "answer_verifies"  # must give a bool; a failure is False

    @functools.wraps(fn)
    def guarded(self, example: Any, text: Any) -> str | bool | None:
        if _BOUNDED["on"]:  # called by another hook or the verifier, whose call is bounded
            return fn(self, example, text)
        try:
            if self.verify_timeout is None:  # the task opted out of the time bound, as for its verifier
                value = _call_unguarded(self, hook, example, text)
            else:
                value = _call_with_timeout(self, hook, example, text, self.verify_timeout)
        except _Timeout:
            kind, problem = "timeout", f"it ran longer than verify_timeout={self.verify_timeout} s"
        except _WorkerDied:
            kind, problem = "worker_died", "its process died"
        except _Raised as e:
            kind, problem = e.reason.removeprefix("verifier_error:"), e.args[0]
        except Exception as e:  # raised here (no fork, or no time bound)
            kind, problem = e.__class__.__name__, _describe(e)
        else:
            if isinstance(value, bool) if verdict else isinstance(value, str) or (value is None and not feedback):
                return value
            returned = type(value).__name__ if value is None or isinstance(value, str | bool) else value[1]
            kind = f"returned_{returned}"
            wanted = "a bool" if verdict else "a str" if feedback else "a str or None"
            problem = f"it returned a {returned}, not {wanted}"
        name = getattr(self, "name", type(self).__name__)
        if (name, hook, kind) not in _HOOK_FAILURES:
            _HOOK_FAILURES.add((name, hook, kind))
            instead = "the verifier's reason is given instead" if feedback else "such text counts as holding no answer"
            warn(f"{hook}() of task {name!r} failed ({problem}); {instead}")
        return Task.feedback(self, example, text) if feedback else False if verdict else None

    guarded.__reflectrl_guarded__ = True  # type: ignore[attr-defined]
    return guarded
