"""Task registry, and how to bring your own task.

A task is one file: subclass ``Task``, give it a ``name``, implement ``load``, ``messages`` and ``verify``,
and decorate it with ``@register_task``. This example is complete (a test runs it); save it as
``my_task.py`` and run ``reflectrl eval --task my_task.py:parity``::

    # my_task.py
    from pydantic import Field

    from reflectrl.tasks import Task, TaskOptions, Verdict, register_task


    @register_task
    class Parity(Task):
        name = "parity"  # --task my_task.py:parity

        class Options(TaskOptions):  # each field is a --task-opt; `seed` comes with TaskOptions
            size: int = Field(100, ge=1, le=10_000, description="Examples per split.")

        def load(self, split):
            # The same list on every call; train and test never overlap.
            first = 0 if split == "train" else 10_000
            return [{"id": f"{split}-{i}", "n": first + i} for i in range(self.options.size)]

        def messages(self, example):
            return [{"role": "user", "content": f"Is {example['n']} even or odd? Answer with one word."}]

        def verify(self, example, completion):
            # Model text is data: read it, never run it.
            said = [w for w in completion.lower().replace(".", " ").split() if w in ("even", "odd")]
            if not said:
                return Verdict.fail("no_answer")
            right = "even" if example["n"] % 2 == 0 else "odd"
            return Verdict.ok() if said[-1] == right else Verdict.fail("wrong_parity")

What each method returns (``reflectrl/tasks/base.py``):

* ``load(split)``, for ``"train"`` and ``"test"``: a list of examples, JSON-serialisable dicts that each
  carry a string ``"id"`` unique in its split (evaluation and mining save and resume by id). An example
  without one is an error naming the task and the example's index, raised by ``get_task``, before any
  model loads.
* ``messages(example)``: the first attempt's chat, a list of ``{"role": "system" | "user" | "assistant",
  "content": str}`` dicts. The last user message is the question, which the retry prompt repeats.
* ``verify(example, completion)``: ``Verdict.ok()``, i.e. ``Verdict(success=True, reason="ok")``, or
  ``Verdict.fail(reason)``, i.e. ``Verdict(success=False, reason=reason)``, with a short reason code
  (``"wrong_parity"``) that evaluation summaries count. It runs in a worker process under a time limit (tasks/guard.py).
* Optional: ``Options`` (pydantic fields, set with ``--task-opt key=value``), ``boost_examples`` (verified
  solutions for the warm-up), ``answer_key`` (majority votes), ``tools``, ``category``.

Use it as ``--task my_task.py:parity``, or ``my_package.my_task:parity`` once importable.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reflectrl.errors import ReflectrlError
from reflectrl.tasks.base import Example, Messages, Split, Task, TaskOptions, Verdict
from reflectrl.tasks.guard import guard_text_hook, guard_verify

__all__ = [
    "Example",
    "Messages",
    "Split",
    "Task",
    "TaskOptions",
    "Verdict",
    "get_task",
    "list_tasks",
    "register_task",
]

_REGISTRY: dict[str, type[Task]] = {}
_BUILTIN_MODULES = ("reflectrl.tasks.countdown", "reflectrl.tasks.function_calling")
_ID_RULE = 'each example needs a string "id", unique in its split'


def _is_builtin(cls: type[Task]) -> bool:
    return any(cls.__module__ == m or cls.__module__.startswith(m + ".") for m in _BUILTIN_MODULES)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a Task available to ``get_task`` under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ReflectrlError(f"register_task expects a Task subclass, got {cls!r}")
    for method, args in _SIGNATURES.items():
        fn = getattr(cls, method)
        if fn is getattr(Task, method):
            raise ReflectrlError(f"task {cls.__name__}: method {method}() is not implemented")
        try:
            inspect.signature(fn).bind(*args)
        except TypeError:
            raise ReflectrlError(
                f"task {cls.__name__}: {method}{inspect.signature(fn)} has the wrong signature; "
                f"expected {method}(self, {', '.join(_ARG_NAMES[method])})"
            ) from None
        except ValueError:  # no signature to inspect (a C callable): the guard still catches misuse
            pass
    if not getattr(cls.verify, "__reflectrl_guarded__", False):
        # Every verifier is guarded (tasks/guard.py); user verifiers also get a worker process with a timeout.
        cls.verify = guard_verify(cls.verify, direct=_is_builtin(cls))  # type: ignore[method-assign]
    for hook in ("answer_key", "answer_in", "answer_verifies", "feedback"):  # they read model text: may raise or hang
        fn = getattr(cls, hook)
        if fn is not getattr(Task, hook) and not _is_builtin(cls) and not getattr(fn, "__reflectrl_guarded__", False):
            setattr(cls, hook, guard_text_hook(fn, hook))
    if not getattr(cls.load, "__reflectrl_checked__", False):
        cls.load = _checked_load(cls.load)  # type: ignore[method-assign]
    _REGISTRY[cls.name] = cls
    return cls


_SIGNATURES = {"load": (None, "train"), "messages": (None, {}), "verify": (None, {}, "")}
_ARG_NAMES = {"load": ["split"], "messages": ["example"], "verify": ["example", "completion"]}


# ---------------------------------------------------------------------------------------------
# Examples: checked once per split, so a malformed one is a one-line error, not a traceback mid-run.


class _MalformedExamples(ReflectrlError):
    pass


def _checked_examples(task: str, split: str, examples: Any) -> list[Example]:
    """``examples`` as a list, or an error naming the task and the first example that breaks the id rule."""
    if not isinstance(examples, list | tuple):
        raise _MalformedExamples(
            f"task {task!r}: load({split!r}) returned {type(examples).__name__}, not a list of example dicts"
        )
    first_index: dict[str, int] = {}
    for i, example in enumerate(examples):
        where = f"task {task!r}: example {i} of the {split} split"
        if not isinstance(example, dict):
            raise _MalformedExamples(f"{where} is a {type(example).__name__}, not a dict")
        if "id" not in example:
            raise _MalformedExamples(f'{where} has no "id"; {_ID_RULE}')
        example_id = example["id"]
        if not (isinstance(example_id, str) and example_id):
            raise _MalformedExamples(f'{where} has "id" {example_id!r}; {_ID_RULE}')
        if example_id in first_index:
            raise _MalformedExamples(
                f'{where} has the "id" {example_id!r} of example {first_index[example_id]}; {_ID_RULE}'
            )
        first_index[example_id] = i
    return list(examples)


def _checked_load(load: Callable[[Task, Split], list[Example]]) -> Callable[[Task, Split], list[Example]]:
    """``load`` that checks a split's examples and keeps them. ``load`` is deterministic by contract, so
    keeping them changes nothing, and lets ``get_task`` check a user task up front at no extra cost."""

    @functools.wraps(load)
    def checked(self: Task, split: Split) -> list[Example]:
        kept = self.__dict__.setdefault("_reflectrl_examples", {})
        if (load, split) not in kept:  # keyed by function too: a subclass's load may call super().load
            kept[(load, split)] = _checked_examples(self.name, split, load(self, split))
        return list(kept[(load, split)])

    checked.__reflectrl_checked__ = True  # type: ignore[attr-defined]
    return checked


def _check_user_examples(task: Task) -> None:
    """Load both splits of a user task now, so a malformed example stops the command before any model loads.
    Any other load failure is left for where the split is used: a stage may not need the split that fails."""
    splits: tuple[Split, ...] = ("train", "test")
    for split in splits:
        try:
            task.load(split)
        except _MalformedExamples:
            raise
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# Finding a task by name: built-ins, then user files (file.py:name) and modules (package.module:name).


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _import_file(path: Path) -> str:
    """Execute a task file (again, if it was imported before) and return its module name."""
    if not path.is_file():
        raise ReflectrlError(f"task file not found: {path}")
    module_name = f"reflectrl_user_task_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except ReflectrlError as e:
        raise ReflectrlError(f"task file {path}: {e}") from e
    except Exception as e:
        raise ReflectrlError(f"task file {path} failed to import: {e.__class__.__name__}: {e}") from e
    return module_name


def _import_module(where: str) -> str:
    try:
        importlib.import_module(where)
    except ImportError as e:
        raise ReflectrlError(f"task module {where!r} cannot be imported: {e}") from e
    return where


def _resolve_user_task(spec: str) -> str:
    """Import ``file.py:name`` or ``package.module:name`` and return the task name; a bare ``file.py``, a
    name the file does not register, or a file that registers nothing is an error that says what to pass."""
    where, _, name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if not where:
        raise ReflectrlError(f"task {spec!r}: expected file.py:name or package.module:name")
    kind = "file" if where.endswith(".py") else "module"
    before = dict(_REGISTRY)
    module = _import_file(Path(where)) if kind == "file" else _import_module(where)
    if name and name in _REGISTRY:
        return name
    registered = sorted(
        n
        for n, cls in _REGISTRY.items()
        if before.get(n) is not cls or cls.__module__ == module or cls.__module__.startswith(module + ".")
    )
    if not registered:
        raise ReflectrlError(
            f"task {kind} {where} registered no task: decorate a Task subclass in it with @register_task "
            "(from reflectrl.tasks)"
        )
    choices = " or ".join(f"{where}:{n}" for n in registered)
    if not name:
        raise ReflectrlError(f"task {spec!r} names a {kind}, not a task in it: pass {choices}")
    raise ReflectrlError(f"task {kind} {where} has no task {name!r}: pass {choices}")


def list_tasks() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_task(name: str, **options: Any) -> Task:
    """Build a task by name with its options (validated; unknown or ill-typed options are errors)."""
    _load_builtins()
    if ":" in name or name.endswith(".py"):
        name = _resolve_user_task(name)
    if name not in _REGISTRY:
        raise ReflectrlError(
            f"unknown task {name!r}; available: {', '.join(sorted(_REGISTRY))} (a task of your own: file.py:name)"
        )
    cls = _REGISTRY[name]
    try:
        parsed = cls.Options(**options)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "?"
        raise ReflectrlError(f"task {name!r} option {key!r}: {first['msg']}") from e
    task = cls(parsed)
    if not _is_builtin(cls):
        _check_user_examples(task)
    return task
