"""Bad input through the real CLI entry point: one line on stderr naming the file/key, exit 1, no traceback
(unless --debug), and nothing already written is lost. docs/RELIABILITY.md lists the same cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reflectrl.jsonl import read_jsonl

FAST = ["--set", "model.threads=1", "--set", "episode.max_attempt_tokens=4"]
FAST += ["--set", "episode.max_reflection_tokens=4", "--set", "episode.max_retry_tokens=4"]
ENV = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "OMP_NUM_THREADS": "1"}


def cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nfrom reflectrl.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, timeout=300)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def test_bad_config_values(tmp_path):
    cases = {
        "eval:\n  limt: 3\n": "eval.limt: unknown key",
        "eval:\n  limit: many\n": "eval.limit: Input should be a valid integer, unable to parse string as an "
        "integer (got 'many')",
        "eval:\n  limit: 0\n": "eval.limit: Input should be greater than or equal to 1 (got 0)",
        "episode:\n  temperature: 0\n": "episode.temperature is now eval.temperature (see reflectrl/config.py)",
    }
    for i, (text, expected) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(text)
        result = cli("eval", "--config", str(path))
        assert result.stderr.strip() == one_line_error(result) == f"error: {path}: {expected}"
    renamed = one_line_error(cli("eval", "--set", "episode.top_p=0.5"))
    assert renamed == "error: override: episode.top_p is now eval.top_p (see reflectrl/config.py)"


def test_train_into_a_folder_that_holds_a_trained_model_is_refused(tmp_path):
    """Its checkpoints are gone once it finished (train.keep_checkpoints: false), so only the model tells: training
    again there would replace it."""
    (tmp_path / "train" / "model").mkdir(parents=True)
    (tmp_path / "train" / "model" / "config.json").write_text("{}")
    line = one_line_error(cli("train", "--failures", str(tmp_path / "f.jsonl"), "--out", str(tmp_path / "train")))
    assert line == f"error: {tmp_path / 'train'} already holds a trained model: choose another --out"


def test_missing_and_corrupt_model_folders(tmp_path, tiny_model_dir):
    missing = tmp_path / "nope"
    assert one_line_error(cli("eval", "--model", str(missing))) == f"error: model folder not found: {missing}"
    bad_config = tmp_path / "bad-config"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{garbage")
    assert one_line_error(cli("eval", "--model", str(bad_config))) == (
        f"error: cannot load model '{bad_config}' ({bad_config}): OSError: It looks like the config file at "
        f"'{bad_config}/config.json' is not a valid JSON file."
    )
    bad_weights = tmp_path / "bad-weights"
    bad_weights.mkdir()
    for f in tiny_model_dir.glob("*.json"):
        (bad_weights / f.name).write_bytes(f.read_bytes())
    (bad_weights / "model.safetensors").write_bytes(b"garbage")
    assert one_line_error(cli("eval", "--model", str(bad_weights), *FAST)) == (
        f"error: cannot load model '{bad_weights}' ({bad_weights}): SafetensorError: Error while deserializing "
        "header: header too small"
    )


def test_malformed_and_unreadable_data_files(tmp_path, tiny_model_dir):
    model = ["--model", str(tiny_model_dir), *FAST, "--limit", "1", "--out"]
    malformed = tmp_path / "data.jsonl"
    malformed.write_text('{"nums": [1, 2], "target": 3}\n{bad\n')
    line = one_line_error(
        cli("eval", *model, str(tmp_path / "o1"), "--task-opt", f"data_file={malformed}", "--task-opt", "strict=true")
    )
    assert line == f"error: {malformed}:2: invalid JSON (Expecting property name enclosed in double quotes)"
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    line = one_line_error(cli("eval", *model, str(tmp_path / "o2"), "--task-opt", f"data_file={binary}"))
    assert line == (
        f"error: {binary}: cannot read (UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: "
        "invalid start byte)"
    )
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "samples.jsonl").write_text('{"id": "x"}\nnot json\n')
    line = one_line_error(cli("eval", *model, str(corrupt)))
    assert line == (
        f"error: {corrupt}/samples.jsonl:2: corrupt JSONL record (JSONDecodeError: Expecting value: line 1 "
        "column 1 (char 0))"
    )
    assert (corrupt / "samples.jsonl").read_text() == '{"id": "x"}\nnot json\n'  # left for the user to inspect


def test_verifier_with_the_wrong_signature(tmp_path):
    task_file = tmp_path / "parity.py"
    task_file.write_text(
        "from reflectrl.tasks import Task, Verdict, register_task\n\n\n"
        "@register_task\nclass Parity(Task):\n    name = 'parity'\n\n"
        "    def load(self, split):\n        return [{'id': 'p1', 'n': 2}]\n\n"
        "    def messages(self, example):\n        return [{'role': 'user', 'content': 'even?'}]\n\n"
        "    def verify(self, completion):\n        return Verdict.ok()\n"
    )
    result = cli("eval", "--task", f"{task_file}:parity")
    assert (
        result.stderr.strip()
        == one_line_error(result)
        == (
            f"error: task file {task_file}: task Parity: verify(self, completion) has the wrong signature; "
            "expected verify(self, example, completion)"
        )
    )
    debug = cli("--debug", "eval", "--task", f"{task_file}:parity")
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # --debug shows where it came from


ENOSPC = """
import errno, os
import reflectrl.jsonl as j
calls = {{"n": 0}}
real = os.fsync
def fsync(fd):
    calls["n"] += 1
    if calls["n"] >= {fail_at}:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd)
j.os.fsync = fsync
"""


@pytest.mark.parametrize("fail_at", [3])
def test_full_disk_during_eval_loses_nothing(tmp_path, tiny_model_dir, fail_at):
    args = ["eval", "--model", str(tiny_model_dir), *FAST, "--limit", "4", "--set", "eval.chunk_size=2"]
    clean, full = tmp_path / "clean", tmp_path / "full"
    assert cli(*args, "--out", str(clean)).returncode == 0
    # fsync 1 is eval_identity.json, then one per chunk of samples.jsonl.
    line = one_line_error(cli(*args, "--out", str(full), prelude=ENOSPC.format(fail_at=fail_at)))
    assert line == (
        f"error: {full}/samples.jsonl: cannot write (No space left on device); the records written before "
        "are kept: rerun the same command to resume"
    )
    assert not (full / "summary.json").exists()
    assert cli(*args, "--out", str(full)).returncode == 0  # the disk has room again: resume
    a, b = read_jsonl(clean / "samples.jsonl"), read_jsonl(full / "samples.jsonl")
    assert sorted(a, key=lambda r: r["id"]) == sorted(b, key=lambda r: r["id"]) and len(b) == 4
    assert (
        json.loads((clean / "summary.json").read_text())["first_try"]
        == json.loads((full / "summary.json").read_text())["first_try"]
    )


def test_full_disk_during_an_atomic_summary_write_keeps_the_old_file(tmp_path):
    prelude = ENOSPC.format(fail_at=1)
    code = (
        f"{prelude}\nfrom reflectrl.jsonl import atomic_write_json\n"
        f"atomic_write_json({str(tmp_path / 's.json')!r}, {{'new': 1}})"
    )
    (tmp_path / "s.json").write_text('{"old": 1}')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "ReflectrlError" in result.stderr and "No space left on device); the previous version is kept" in (
        result.stderr
    )
    assert (tmp_path / "s.json").read_text() == '{"old": 1}'
    assert [p.name for p in Path(tmp_path).iterdir()] == ["s.json"]  # no temp file left behind


SAFETENSORS_FULL = """
import safetensors.torch as st
from safetensors import SafetensorError
real, calls = st.save_file, []
def save_file(*args, **kwargs):  # the first save succeeds; then the disk is full, as safetensors reports it
    calls.append(1)
    if len(calls) > 1:
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    return real(*args, **kwargs)
st.save_file = save_file
"""


def test_full_disk_while_a_library_saves_a_checkpoint_is_one_line_and_resumes(tmp_path, tiny_model_dir):
    out = tmp_path / "boost"
    args = ["boost", "--model", str(tiny_model_dir), "--set", "model.threads=1", "--set", "boost.examples=4"]
    args += ["--set", "boost.batch_size=2", "--set", "boost.gradient_accumulation_steps=1"]
    args += ["--set", "boost.save_steps=1", "--set", "boost.report_to=[none]", "--out", str(out)]
    line = one_line_error(cli(*args, prelude=SAFETENSORS_FULL))
    assert line == (
        "error: SafetensorError: Error while serializing: I/O error: No space left on device (os error 28); "
        "free some space and rerun the same command to resume"
    )
    assert not (out / "model").exists()
    saved = out / "checkpoints"
    assert (saved / "checkpoint-1" / "trainer_state.json").is_file()  # written whole before the disk filled
    assert not (saved / "checkpoint-2" / "trainer_state.json").exists()  # torn: resume must skip it
    assert cli(*args).returncode == 0  # the disk has room again
    assert (out / "model" / "model.safetensors").is_file()
    assert not list(saved.glob("checkpoint-*"))  # a finished boost deletes them (boost.keep_checkpoints: false)


def test_other_library_errors_keep_their_traceback(tmp_path, tiny_model_dir):
    prelude = SAFETENSORS_FULL.replace("No space left on device (os error 28)", "something else")
    args = ["boost", "--model", str(tiny_model_dir), "--set", "model.threads=1", "--set", "boost.examples=2"]
    result = cli(*args, "--set", "boost.save_steps=1", "--out", str(tmp_path / "b"), prelude=prelude)
    assert result.returncode != 0 and "Traceback" in result.stderr  # a bug is not dressed up as a user error
