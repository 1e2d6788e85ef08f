import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, read_jsonl

runner = CliRunner()


def _eval_args(model_dir, out, limit=6):
    return [
        "eval", "--model", str(model_dir), "--task", "countdown", "--task-opt", "train_size=10",
        "--task-opt", "test_size=8", "--limit", str(limit), "--out", str(out),
        "--set", "episode.max_attempt_tokens=6", "--set", "episode.max_reflection_tokens=6",
        "--set", "episode.max_retry_tokens=6", "--set", "eval.chunk_size=2",
    ]  # fmt: skip


def test_eval_end_to_end_writes_samples_and_summary(tiny_model_dir, tmp_path):
    out = tmp_path / "ev"
    result = runner.invoke(app, _eval_args(tiny_model_dir, out))
    assert result.exit_code == 0, result.output
    assert "first try" in result.output and "second try" in result.output
    records = read_jsonl(out / "samples.jsonl")
    assert len(records) == 6 and len({r["id"] for r in records}) == 6
    for r in records:
        assert {"prompt", "attempt", "attempt_success", "attempt_reason", "first_try", "second_try"} <= set(r)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 6 and summary["first_try"]["n"] == 6
    assert summary["second_try"]["k"] == sum(r["second_try"] for r in records)


def test_dev_split_never_overlaps_the_boost_or_mining_problems(tiny_model_dir, tmp_path):
    """`--split dev` takes the train problems after the boost's and the mining queries (dev_start), in order;
    another boost/mine size is another dev slice, so its folder refuses to be resumed with it."""
    from reflectrl.pipeline import splits
    from reflectrl.tasks import get_task

    out = tmp_path / "dev"
    sizes = ["--set", "boost.examples=4", "--set", "mine.queries=3", "--split", "dev"]
    args = [a.replace("train_size=10", "train_size=20") for a in _eval_args(tiny_model_dir, out, limit=5)]
    result = runner.invoke(app, [*args, *sizes])
    assert result.exit_code == 0, result.output
    task = get_task("countdown", train_size=20, test_size=8)
    cfg = load_config(None, ["boost.examples=4", "mine.queries=3"])
    boost, mine = splits(task, cfg)
    dev = [r["id"] for r in read_jsonl(out / "samples.jsonl")]
    assert dev == [ex["id"] for ex in task.load("train")[7:12]] and cfg.dev_start() == 7
    assert not set(dev) & {ex["id"] for ex in boost + mine}
    assert json.loads((out / "summary.json").read_text())["split"] == "dev"
    again = runner.invoke(app, [*args, *sizes[:2], "--set", "mine.queries=2", "--split", "dev"])
    assert isinstance(again.exception, ReflectrlError) and "other settings" in str(again.exception)
    assert json.loads((out / "eval_identity.json").read_text())["dev_start"] == 7


def test_eval_resumes_without_duplicates(tiny_model_dir, tmp_path):
    out = tmp_path / "ev"
    assert runner.invoke(app, _eval_args(tiny_model_dir, out, limit=4)).exit_code == 0
    first = read_jsonl(out / "samples.jsonl")
    # Simulate a kill in the middle of writing a line.
    with open(out / "samples.jsonl", "a") as f:
        f.write('{"id": "torn')
    result = runner.invoke(app, _eval_args(tiny_model_dir, out, limit=8))
    assert result.exit_code == 0, result.output
    records = read_jsonl(out / "samples.jsonl")
    assert len(records) == 8 and len({r["id"] for r in records}) == 8
    assert records[:4] == first


def test_eval_refuses_to_mix_settings(tiny_model_dir, tmp_path):
    out = tmp_path / "ev"
    assert runner.invoke(app, _eval_args(tiny_model_dir, out, limit=2)).exit_code == 0
    result = runner.invoke(app, [*_eval_args(tiny_model_dir, out, limit=2), "--temperature", "0.5"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ReflectrlError) and "other settings" in str(result.exception)


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval:\n  limt: 3\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from reflectrl.cli import main; main()", "eval", "--config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {bad}: eval.limt: unknown key"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from reflectrl.cli import main; main()",
            "eval",
            "--model",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and proc.stderr.strip() == f"error: model folder not found: {tmp_path / 'nope'}"


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ReflectrlError, match=r"eval.limit: Input should be a valid integer.*'many'"):
        load_config(None, ["eval.limit=many"])
    with pytest.raises(ReflectrlError, match=r"eval.temperature: Input should be greater than or equal to 0"):
        load_config(None, ["eval.temperature=-1"])
    f = tmp_path / "c.yaml"
    f.write_text("eval: [1, 2\n")
    with pytest.raises(ReflectrlError, match=r"c.yaml:\d+: invalid YAML"):
        load_config(f)
    assert load_config(None, ["task.options.numbers=4"]).task.options == {"numbers": 4}


def test_jsonl_repairs_torn_tail(tmp_path):
    path = tmp_path / "x.jsonl"
    with JsonlWriter(path) as w:
        w.write_many([{"a": 1}, {"a": 2}])
    with open(path, "a") as f:
        f.write('{"a": 3')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    with JsonlWriter(path) as w:
        w.write({"a": 4})
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}, {"a": 4}]
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ReflectrlError, match=r"x.jsonl:2: corrupt JSONL record"):
        read_jsonl(path)
    # A whole record without its newline: unacknowledged in a file a writer resumes, kept in a file a user gave.
    path.write_text('{"a": 1}\n{"a": 2}')
    assert read_jsonl(path) == [{"a": 1}] and read_jsonl(path, input_file=True) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": 2')
    assert read_jsonl(path, input_file=True) == [{"a": 1}]  # still torn: dropped


@pytest.mark.parametrize(
    "line, says",
    [
        (b'{"q": "caf\xe9"}', "UnicodeDecodeError"),  # Latin-1, not UTF-8
        (b'{"n": ' + b"7" * 5000 + b"}", "ValueError"),  # over Python's int-parsing digit limit
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"a": ', "not a JSON object per line"),
    ],
)
def test_a_bad_line_of_a_users_data_file_is_one_line_naming_it(tmp_path, line, says):
    from reflectrl.jsonl import json_objects

    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"ok": 1}\n\n' + line + b"\n")
    with pytest.raises(ReflectrlError, match=r"data.jsonl:3: ") as e:
        list(json_objects(path))
    assert says in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ReflectrlError, match=r"missing.jsonl: cannot read \(No such file or directory\)"):
        list(json_objects(tmp_path / "missing.jsonl"))


def test_all_split_evaluates_every_problem_of_the_data(tiny_model_dir, tmp_path):
    from reflectrl.tasks import get_task

    out = tmp_path / "all"
    args = [a.replace("train_size=10", "train_size=4").replace("test_size=8", "test_size=3") for a in
            _eval_args(tiny_model_dir, out)]  # fmt: skip
    del args[args.index("--limit") : args.index("--limit") + 2]  # eval.limit=null: every problem
    result = runner.invoke(app, [*args, "--split", "all", "--set", "eval.limit=null"])
    assert result.exit_code == 0, result.output
    task = get_task("countdown", train_size=4, test_size=3)
    every = [ex["id"] for ex in task.load("train") + task.load("test")]
    assert sorted(r["id"] for r in read_jsonl(out / "samples.jsonl")) == sorted(every) and len(every) == 7
