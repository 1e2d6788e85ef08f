"""One CLI grammar: every command that reads a config takes --config and --set (and --task-opt key=value);
flags and forms that moved are one-line errors naming the new ones."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from reflectrl.cli import app, check_moved
from reflectrl.errors import ReflectrlError

runner = CliRunner()
# List tasks; rewrite a run folder's report, or compare evaluations, from what the folders already hold.
NO_CONFIG = {"tasks", "report", "paired"}
REQUIRED = {"forgetting": ["--model", "m"], "probe": ["--failures", "f.jsonl"]}


def _commands() -> dict[str, list[str]]:
    group = typer.main.get_command(app)
    return {name: [o for p in cmd.params for o in p.opts] for name, cmd in group.commands.items()}


def test_the_walk_sees_every_command():
    names = {"tasks", "eval", "boost", "mine", "train", "run", "compare", "report", "forgetting", "probe", "paired"}
    assert set(_commands()) == names


@pytest.mark.parametrize("name", sorted(set(_commands()) - NO_CONFIG))
def test_every_config_command_reads_config_and_set(name, tmp_path):
    options = _commands()[name]
    assert {"--config", "--set", "--model"} <= set(options), name
    if name not in ("run", "compare"):  # those take everything from the config
        assert "--task-opt" in options, name
    extra = REQUIRED.get(name, [])
    missing = runner.invoke(app, [name, *extra, "--config", str(tmp_path / "nope.yaml")])
    assert isinstance(missing.exception, ReflectrlError) and "config file not found" in str(missing.exception)
    unknown = runner.invoke(app, [name, *extra, "--set", "train.no_such_key=1"])
    assert isinstance(unknown.exception, ReflectrlError) and "no_such_key" in str(unknown.exception)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["run", "configs/countdown-default.yaml"], "reflectrl run --config configs/countdown-default.yaml"),
        (["--debug", "compare", "c.yaml"], "reflectrl compare --config c.yaml"),
        (["forgetting", "-m", "a", "--dtype", "bf16"], "--set model.dtype=DTYPE"),
        (["forgetting", "-m", "a", "--data-dir=/x"], "--set forgetting.data_dir=DIR"),
    ],
)
def test_moved_forms_name_the_new_one(argv, names):
    with pytest.raises(ReflectrlError, match=names.replace(".", r"\.")):
        check_moved(argv)


def test_current_forms_pass_the_moved_check():
    check_moved(["run", "--config", "configs/countdown-default.yaml"])
    check_moved(["eval", "--temperature", "0"])  # --temperature moved only for forgetting
    check_moved(["forgetting", "-m", "a", "--set", "model.dtype=bf16"])


def test_task_options_are_key_value_for_the_config_task_everywhere():
    result = runner.invoke(app, ["forgetting", "-m", "a", "--task-opt", "mmlu.slice=dev"])
    assert isinstance(result.exception, ReflectrlError)
    assert "--set forgetting.options.mmlu.slice=dev" in str(result.exception)


def test_tasks_shows_a_task_from_a_file(tmp_path):
    task_file = tmp_path / "my_task.py"
    task_file.write_text(
        "from reflectrl.tasks import Task, TaskOptions, Verdict, register_task\n\n"
        "@register_task\nclass Echo(Task):\n    '''Repeat the number.'''\n    name = 'echo_cli'\n\n"
        "    class Options(TaskOptions):\n        size: int = 3\n\n"
        "    def load(self, split):\n"
        "        return [{'id': f'{split}-{i}', 'n': i} for i in range(self.options.size)]\n\n"
        "    def messages(self, example):\n        return [{'role': 'user', 'content': str(example['n'])}]\n\n"
        "    def verify(self, example, completion):\n        return Verdict.ok()\n"
    )
    result = runner.invoke(app, ["tasks", "--task", f"{task_file}:echo_cli"])
    assert result.exit_code == 0, result.output
    assert "echo_cli" in result.output and "Repeat the number." in result.output and "size = 3" in result.output
    assert "countdown" not in result.output
