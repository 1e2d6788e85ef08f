"""Task registry.

Add a task in one file::

    # my_task.py
    from reflectrl.tasks import Task, TaskOptions, Verdict, register_task

    @register_task
    class Parity(Task):
        name = "parity"

        class Options(TaskOptions):
            size: int = 100

        def load(self, split): ...
        def messages(self, example): ...
        def verify(self, example, completion): ...

then use it as ``--task my_task.py:parity`` (or ``my_package.my_task:parity`` once importable).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reflectrl.errors import ReflectrlError
from reflectrl.tasks.base import Example, Messages, Split, Task, TaskOptions, Verdict
from reflectrl.tasks.guard import guard_verify

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
        cls.verify = guard_verify(cls.verify, direct=cls.__module__ in _BUILTIN_MODULES)  # type: ignore[method-assign]
    _REGISTRY[cls.name] = cls
    return cls


_SIGNATURES = {"load": (None, "train"), "messages": (None, {}), "verify": (None, {}, "")}
_ARG_NAMES = {"load": ["split"], "messages": ["example"], "verify": ["example", "completion"]}


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _import_user_task(spec: str) -> str:
    """Import ``file.py:name`` or ``package.module:name`` and return the task name."""
    where, _, name = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
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
    else:
        try:
            importlib.import_module(where)
        except ImportError as e:
            raise ReflectrlError(f"task module {where!r} cannot be imported: {e}") from e
    return name


def list_tasks() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_task(name: str, **options: Any) -> Task:
    """Build a task by name with its options (validated; unknown or ill-typed options are errors)."""
    _load_builtins()
    if ":" in name:
        name = _import_user_task(name)
    if name not in _REGISTRY:
        raise ReflectrlError(f"unknown task {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    cls = _REGISTRY[name]
    try:
        parsed = cls.Options(**options)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "?"
        raise ReflectrlError(f"task {name!r} option {key!r}: {first['msg']}") from e
    return cls(parsed)
