"""A user's verifier that raises or returns the wrong type is loud on the console in eval and mine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

TASK_FILE = textwrap.dedent(
    """
    from reflectrl.tasks import Task, Verdict, register_task

    @register_task
    class Broken(Task):
        name = "broken_{kind}"

        def load(self, split):
            return [{{"id": f"{{split}}-{{i}}", "n": i}} for i in range(6)]

        def messages(self, example):
            return [{{"role": "user", "content": f"Say {{example['n']}}."}}]

        def verify(self, example, completion):
            {body}
    """
)
BODIES = {"raises": 'return Verdict(True, "ok") if example["missing"] else Verdict.fail("no")', "bool": "return True"}
SHORT = ["--set", "episode.max_attempt_tokens=4", "--set", "episode.max_reflection_tokens=4"]
SHORT += ["--set", "episode.max_retry_tokens=4", "--set", "eval.chunk_size=3", "--set", "mine.chunk_size=3"]
SHORT += ["--set", "boost.examples=1"]  # the user task has 6 train problems


def _cli(*args: str) -> tuple[int, str]:
    """Exit code and stderr with whitespace collapsed (rich wraps long lines at the terminal width)."""
    code = "import sys; from reflectrl.cli import main; sys.argv = ['reflectrl', *sys.argv[1:]]; main()"
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, " ".join(proc.stderr.split())


@pytest.mark.parametrize("kind", ["raises", "bool"])
def test_a_broken_verifier_is_named_in_eval_and_mine(kind, tiny_model_dir, tmp_path):
    task_file = tmp_path / "my_task.py"
    task_file.write_text(TASK_FILE.format(kind=kind, body=BODIES[kind]))
    task = f"{task_file}:broken_{kind}"
    expected = "KeyError: 'missing'" if kind == "raises" else "it returned a bool"

    code, err = _cli("eval", "--model", str(tiny_model_dir), "--task", task, "--out", str(tmp_path / "ev"), *SHORT)
    assert code == 0, err
    assert expected in err
    # 6 problems: first try, retry and the resample baseline each hit the broken verifier.
    assert f"eval: the verifier of task 'broken_{kind}' failed on 18 answers" in err
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["n"] == 6

    code, err = _cli(
        "mine", "--model", str(tiny_model_dir), "--task", task, "--queries", "3", "--samples", "2",
        "--out", str(tmp_path / "mine"), *SHORT,
    )  # fmt: skip
    assert code == 0 and expected in err, err
    assert f"mine: the verifier of task 'broken_{kind}' failed on 6 answers" in err

    # Training without a mining run: grpo takes the train problems; every step names the verifier failures.
    args = ["--model", str(tiny_model_dir), "--task", task, "--algorithm", "grpo", "--steps", "1"]
    args += ["--set", "train.num_generations=2", "--set", "train.groups_per_step=2"]
    args += ["--set", "mine.queries=4"]
    args += ["--set", "train.dynamic_sampling=false"]
    code, err = _cli("train", *args, "--out", str(tmp_path / "train"), *SHORT)
    assert code == 0, err
    assert "grpo trains on the 4 train problems that mining would query" in err
    assert expected in err and "step 1: the task's verifier failed on 4 answers" in err
    metrics = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["verifier_errors"] == 4
    assert "algorithm: grpo" in (tmp_path / "train" / "config.yaml").read_text()  # pinned beside the model
    lr = ["--set", "train.learning_rate=0.001", "--resume", "--out", str(tmp_path / "train")]
    code, err = _cli("train", *args, *lr, *SHORT)
    assert code == 1 and "config.yaml: train.learning_rate: 1e-05 -> 0.001); use another out_dir, or delete" in err
