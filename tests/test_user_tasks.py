"""Bringing your own task: the documented example runs, and the mistakes a task file can make are one-line
errors that say what to fix, before any model loads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import reflectrl.tasks
from reflectrl.errors import ReflectrlError
from reflectrl.tasks import Verdict, get_task


def documented_example() -> str:
    """The example task in the docstring of reflectrl/tasks/__init__.py (the indented block after ``::``)."""
    block = reflectrl.tasks.__doc__.split("::\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)).strip() + "\n"


def write_task(tmp_path: Path, body: str, file_name: str = "my_task.py") -> Path:
    path = tmp_path / file_name
    path.write_text("from reflectrl.tasks import Task, Verdict, register_task\n\n" + textwrap.dedent(body))
    return path


def test_the_documented_example_task_runs(tmp_path):
    code = documented_example()
    assert code.startswith("# my_task.py\n") and "..." not in code
    path = tmp_path / "my_task.py"
    path.write_text(code)
    task = get_task(f"{path}:parity", size=5)  # what --task my_task.py:parity --task-opt size=5 does
    train, test = task.load("train"), task.load("test")
    assert len(train) == len(test) == 5
    assert not {e["id"] for e in train} & {e["id"] for e in test}
    example = train[3]  # n = 3
    messages = task.messages(example)
    assert [m["role"] for m in messages] == ["user"] and all(isinstance(m["content"], str) for m in messages)
    assert task.verify(example, "It is odd.") == Verdict.ok()
    assert task.verify(example, "even") == Verdict.fail("wrong_parity")
    assert task.verify(example, "no idea") == Verdict.fail("no_answer")
    with pytest.raises(ReflectrlError, match="option 'size'"):
        get_task(f"{path}:parity", size=0)


BAD_LOADS = {
    "no_id": ('[{"id": "a", "n": 1}, {"n": 2}]', 'example 1 of the train split has no "id"'),
    "int_id": ('[{"id": 7, "n": 1}]', 'example 0 of the train split has "id" 7'),
    "duplicate_id": (
        '[{"id": "a"}, {"id": "b"}, {"id": "a"}]',
        "example 2 of the train split has the \"id\" 'a' of example 0",
    ),
    "not_a_dict": ('[{"id": "a"}, "b"]', "example 1 of the train split is a str, not a dict"),
    "not_a_list": ("None", "load('train') returned NoneType, not a list of example dicts"),
}


@pytest.mark.parametrize("case", sorted(BAD_LOADS))
def test_malformed_examples_are_one_line_errors_naming_task_and_index(tmp_path, case):
    returned, expected = BAD_LOADS[case]
    path = write_task(
        tmp_path,
        f"""
        @register_task
        class Bad(Task):
            name = "bad_{case}"

            def load(self, split):
                return {returned}

            def messages(self, example):
                return [{{"role": "user", "content": "?"}}]

            def verify(self, example, completion):
                return Verdict.ok()
        """,
        f"bad_{case}.py",
    )
    with pytest.raises(ReflectrlError) as e:
        get_task(f"{path}:bad_{case}")  # at get_task: before any stage has loaded a model
    assert str(e.value).startswith(f"task 'bad_{case}': {expected}")
    assert "\n" not in str(e.value)


CALLS = """
calls = []


@register_task
class Counted(Task):
    name = "counted"

    def load(self, split):
        calls.append(split)
        if split == "test":
            raise ValueError("no test split here")
        return [{"id": "a"}]

    def messages(self, example):
        return [{"role": "user", "content": "?"}]

    def verify(self, example, completion):
        return Verdict.ok()
"""


def test_examples_are_checked_once_and_other_load_failures_wait_for_their_split(tmp_path):
    path = write_task(tmp_path, CALLS, "counted.py")
    task = get_task(f"{path}:counted")
    module = sys.modules["reflectrl_user_task_counted"]
    assert task.load("train") == task.load("train") == [{"id": "a"}]
    assert module.calls.count("train") == 1  # checked at get_task, kept since: load is deterministic
    with pytest.raises(ValueError, match="no test split here"):  # raised where the split is used, as before
        task.load("test")


def test_a_missing_id_stops_the_cli_before_the_model_loads(tmp_path):
    path = write_task(
        tmp_path,
        """
        @register_task
        class NoId(Task):
            name = "no_id"

            def load(self, split):
                return [{"n": 1}]

            def messages(self, example):
                return [{"role": "user", "content": "?"}]

            def verify(self, example, completion):
                return Verdict.ok()
        """,
        "no_id.py",
    )
    # No such model: had the model loaded first, the error would be about the model.
    args = ["eval", "--model", str(tmp_path / "no-such-model"), "--task", f"{path}:no_id", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "from reflectrl.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        """error: task 'no_id': example 0 of the train split has no "id"; each example needs a string "id", """
        "unique in its split"
    ]


PARITY = """
@register_task
class Parity(Task):
    name = "parity_hint"

    def load(self, split):
        return [{"id": "p1", "n": 2}]

    def messages(self, example):
        return [{"role": "user", "content": "even?"}]

    def verify(self, example, completion):
        return Verdict.ok()
"""


def test_naming_a_task_file_wrongly_says_what_to_pass(tmp_path):
    path = write_task(tmp_path, PARITY, "parity_hint.py")
    with pytest.raises(ReflectrlError) as e:
        get_task(str(path))
    assert str(e.value) == f"task '{path}' names a file, not a task in it: pass {path}:parity_hint"
    with pytest.raises(ReflectrlError) as e:
        get_task(f"{path}:parity_hnt")
    assert str(e.value) == f"task file {path} has no task 'parity_hnt': pass {path}:parity_hint"
    assert get_task(f"{path}:parity_hint").load("test") == [{"id": "p1", "n": 2}]

    empty = write_task(tmp_path, "class NotRegistered(Task):\n    name = 'nothing'\n", "empty.py")
    for spec in (str(empty), f"{empty}:nothing"):
        with pytest.raises(ReflectrlError) as e:
            get_task(spec)
        assert str(e.value) == (
            f"task file {empty} registered no task: decorate a Task subclass in it with @register_task "
            "(from reflectrl.tasks)"
        )
    with pytest.raises(ReflectrlError, match="task file not found"):
        get_task(str(tmp_path / "missing.py"))
    with pytest.raises(ReflectrlError, match=r"unknown task 'parity_hint2'; available: .*file\.py:name"):
        get_task("parity_hint2")
