"""`reflectrl run` end to end on a tiny model, resuming after kills, and the report's numbers."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.config_file import dump_config, load_config
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.report import _html, write_report
from reflectrl.tasks import get_task
from reflectrl.train.boost import boost_rows

runner = CliRunner()


def tiny_config(model_dir: Path, out: Path, **extra) -> Path:
    cfg = {
        "out_dir": str(out),
        "model": {"name": str(model_dir)},
        "task": {"name": "countdown", "options": {"train_size": 60, "test_size": 8}},
        "episode": {"max_attempt_tokens": 6, "max_reflection_tokens": 6, "max_retry_tokens": 6},
        "eval": {"limit": 4, "chunk_size": 2},
        "boost": {"examples": 8, "batch_size": 4, "report_to": ["none"], "save_steps": 1, "max_length": 256},
        "mine": {"queries": 6, "samples": 2, "chunk_size": 2},
        "train": {"steps": 2, "num_generations": 2, "groups_per_step": 2, "report_to": ["none"], "save_steps": 1},
    }
    for key, value in extra.items():
        section, _, field = key.partition("__")
        cfg[section][field] = value
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_end_to_end_then_resume_is_a_no_op(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(tiny_model_dir, out)
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    for path in (
        "config.yaml",
        "boost/model/config.json",
        "eval-start/samples.jsonl",
        "mine/failures.jsonl",
        "mine/stats.json",
        "train/model/model.safetensors",
        "train/metrics.jsonl",
        "eval-trained/summary.json",
        "report.md",
        "report.html",
        "plots/accuracy.png",
        "plots/training.png",
    ):
        assert (out / path).exists(), path
    report = (out / "report.md").read_text()
    assert "start first try" in report and "trained second try" in report
    assert "<table>" in (out / "report.html").read_text()
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "train" / "model").num_parameters() > 0
    metrics = [m for m in read_jsonl(out / "train" / "metrics.jsonl") if "reward" in m]
    assert [m["step"] for m in metrics] == [1, 2]
    # failures.jsonl keeps the sampled token ids, which training continues (not a re-tokenized text).
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    failures = read_jsonl(out / "mine" / "failures.jsonl")
    assert failures and all(tok.decode(f["attempt_ids"], skip_special_tokens=True) == f["attempt"] for f in failures)
    assert all(0 <= m["reflection/copy_overlap"] <= 1 and 0 <= m["reflection/leak"] <= 1 for m in metrics)
    assert (out / "plots" / "reflections.png").is_file()
    # A random tiny model never solves a retry: no group has reward variance, and the run says so.
    assert ("no reward signal" in result.output) == all(m["frac_reward_zero_std"] == 1 for m in metrics)
    before = {p: (out / p).read_bytes() for p in ("eval-start/samples.jsonl", "mine/mined.jsonl")}
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert before == {p: (out / p).read_bytes() for p in before}  # every stage was complete: nothing redone


def test_run_refuses_a_different_config_in_the_same_folder(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    load_config(tiny_config(tiny_model_dir, out))
    (out / "config.yaml").write_text("out_dir: somewhere-else\n")
    result = runner.invoke(app, ["run", "--config", str(tiny_config(tiny_model_dir, out))])
    assert result.exit_code != 0 and "different config" in str(result.exception)
    pinned = load_config(tiny_config(tiny_model_dir, out), ["train.steps=99"])
    (out / "config.yaml").write_text(dump_config(pinned))
    result = runner.invoke(app, ["run", "--config", str(tiny_config(tiny_model_dir, out))])
    assert "(" in str(result.exception) and "train.steps: 99 -> " in str(result.exception)  # names what changed


def test_a_pinned_config_refuses_other_settings_but_may_extend_steps(tiny_model_dir, tmp_path):
    from reflectrl.pipeline import pin_config

    path, cfg = tmp_path / "config.yaml", load_config(tiny_config(tiny_model_dir, tmp_path / "run"))
    pin_config(path, cfg)
    more = load_config(tiny_config(tiny_model_dir, tmp_path / "run"), [f"train.steps={cfg.train.steps + 5}"])
    with pytest.raises(ReflectrlError, match=rf"config\.yaml: train\.steps: {cfg.train.steps} -> "):
        pin_config(path, more)
    pin_config(path, more, extendable=("train.steps",))
    assert load_config(path).train.steps == cfg.train.steps + 5  # the pin follows the extension
    other = load_config(tiny_config(tiny_model_dir, tmp_path / "run"), ["train.seed=7"])
    with pytest.raises(ReflectrlError, match=r"train\.seed: 0 -> 7"):
        pin_config(path, other, extendable=("train.steps",))


def test_a_setting_added_by_a_later_version_does_not_orphan_a_run_folder(tiny_model_dir, tmp_path):
    import yaml

    from reflectrl.pipeline import _changed_keys

    cfg = load_config(tiny_config(tiny_model_dir, tmp_path / "run"))
    older = cfg.model_dump(mode="json")
    del older["train"]["remine_every"]  # written before the setting existed: it behaved as the default
    assert _changed_keys(yaml.safe_dump(older), cfg) == []
    newer = load_config(tiny_config(tiny_model_dir, tmp_path / "run"), ["train.remine_every=5"])
    assert _changed_keys(yaml.safe_dump(older), newer) == ["train.remine_every: None -> 5"]
    older["train"]["gone"] = 1  # a setting this version no longer has
    assert _changed_keys(yaml.safe_dump(older), cfg) == ["train.gone: 1 -> 'unset'"]
    del older["train"]["gone"]
    # A renamed setting (config.RENAMED) pinned under its old name is the same setting.
    older["episode"]["temperature"] = older["eval"].pop("temperature")
    assert _changed_keys(yaml.safe_dump(older), cfg) == []
    older["episode"]["temperature"] = 0.5
    assert _changed_keys(yaml.safe_dump(older), cfg) == ["eval.temperature: 0.5 -> 0.9"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from reflectrl.cli import main; main()", *args]


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 300) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("condition never met")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mine_killed_with_sigkill_resumes_to_the_clean_result(tiny_model_dir, tmp_path, seed):
    config = tiny_config(tiny_model_dir, tmp_path / "run", mine__queries=16, boost__enabled=False)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    args = ["mine", "--config", str(config), "--set", "model.threads=1"]
    subprocess.run(_cli(*args, "--out", str(clean)), check=True, capture_output=True)
    kill_after = random.Random(seed).randint(1, 14)
    proc = subprocess.Popen(_cli(*args, "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mined = killed / "mined.jsonl"
    assert _kill_when(proc, lambda: mined.exists() and mined.read_bytes().count(b"\n") >= kill_after)
    subprocess.run(_cli(*args, "--out", str(killed)), check=True, capture_output=True)
    a, b = read_jsonl(clean / "mined.jsonl"), read_jsonl(killed / "mined.jsonl")
    assert len(b) == len({r["id"] for r in b}) == 16, "lost or duplicated queries"
    assert sorted(a, key=lambda r: r["id"]) == sorted(b, key=lambda r: r["id"])
    assert (clean / "failures.jsonl").read_text().count("\n") == (killed / "failures.jsonl").read_text().count("\n")


def test_mine_refuses_to_resume_a_folder_mined_by_another_model_or_settings(tiny_lm, tmp_path):
    """A killed mining rerun with another --model or sampling would silently mix two distributions of failures."""
    from tiny import ScriptedEngine

    from reflectrl.config import Sampling
    from reflectrl.errors import ReflectrlError
    from reflectrl.mine import mine

    _, tok = tiny_lm
    task = get_task("countdown", train_size=8, test_size=2)
    queries = task.load("train")[:4]
    engine = ScriptedEngine(tok, lambda *a: "<answer> 1 + 1 </answer>")
    stats = mine(engine, task, queries[:2], tmp_path, 2, Sampling(), model="boost/model")
    per_sample = len(tok("<answer> 1 + 1 </answer>", add_special_tokens=False).input_ids) + 1  # + eos
    assert stats["queries"] == 2 and stats["generated_tokens"] == 2 * 2 * per_sample
    stats = mine(engine, task, queries, tmp_path, 2, Sampling(), model="boost/model")  # more queries join
    assert stats["queries"] == 4 and stats["generated_tokens"] == 4 * 2 * per_sample  # the folder's, not this call's
    for other in ({"model": "another/model"}, {"seed": 1}):
        with pytest.raises(ReflectrlError, match="already holds results with other settings"):
            mine(engine, task, queries, tmp_path, 2, Sampling(), **other)
    with pytest.raises(ReflectrlError, match="other settings"):
        mine(engine, task, queries, tmp_path, 2, Sampling(temperature=0.5), model="boost/model")
    (tmp_path / "mine_identity.json").write_text('{"model": "boost/')  # damaged: a one-line error, data kept
    with pytest.raises(ReflectrlError, match=r"mine_identity.json cannot be read \(JSONDecodeError\); delete it"):
        mine(engine, task, queries, tmp_path, 2, Sampling(), model="boost/model")
    assert len(read_jsonl(tmp_path / "mined.jsonl")) == 4


def test_run_killed_during_training_resumes_from_checkpoint(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    config = tiny_config(tiny_model_dir, out, train__steps=4)
    proc = subprocess.Popen(_cli("run", "--config", str(config)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "train" / "checkpoints"
    assert _kill_when(proc, lambda: ckpt.is_dir() and any(ckpt.glob("checkpoint-2/trainer_state.json")))
    assert not (out / "train" / "model").exists()
    result = subprocess.run(_cli("run", "--config", str(config)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    state = json.loads((out / "train" / "train_state.json").read_text())
    assert state["global_step"] == 4
    steps = [m["step"] for m in read_jsonl(out / "train" / "metrics.jsonl") if "reward" in m]
    assert steps == [1, 2, 3, 4] or (steps == sorted(set(steps)) and steps[-1] == 4)
    for folder in ("eval-start", "eval-trained"):
        ids = [r["id"] for r in read_jsonl(out / folder / "samples.jsonl")]
        assert len(ids) == len(set(ids)) == 4


def test_boost_rows_train_reflections_and_retries_never_wrong_attempts():
    task = get_task("countdown", train_size=200, test_size=2)
    cfg = load_config(None)
    rows = boost_rows(task, task.load("train"), cfg.episode, 0.5, seed=0)
    answer_rows = [r for r in rows if len(r["prompt"]) == 1]
    reflection_rows = [r for r in rows if r["prompt"][-1]["content"] == cfg.episode.reflection_prompt]
    retry_rows = [r for r in rows if len(r["prompt"]) == 5]
    assert len(answer_rows) == 200 and 70 <= len(reflection_rows) == len(retry_rows) <= 130
    examples = {json.dumps(task.messages(e)): e for e in task.load("train")}
    for r in answer_rows + retry_rows:
        ex = examples[json.dumps(r["prompt"][:1])]
        assert task.verify(ex, r["completion"][0]["content"]).success  # every trained answer is correct
    for r in reflection_rows:
        ex = examples[json.dumps(r["prompt"][:1])]
        assert not task.verify(ex, r["prompt"][1]["content"]).success  # the failed attempt is context only
        assert "<answer>" not in r["completion"][0]["content"]


def _fake_eval(
    folder: Path,
    first: list[bool],
    second: list[bool],
    categories: list[str] | None = None,
    reasons: list[str] | None = None,
) -> None:
    folder.mkdir(parents=True)
    records = []
    for i, (f, s) in enumerate(zip(first, second, strict=True)):
        records.append(
            {
                "id": f"p{i}",
                "category": categories[i] if categories else None,
                "prompt": [{"role": "user", "content": f"q{i}"}],
                "attempt": "a",
                "attempt_success": f,
                "attempt_reason": "ok" if f else (reasons[i] if reasons else "wrong_value"),
                "first_try": f,
                "second_try": s,
                "resample_success": False,
                "resample_second_try": f,
                **(
                    {}
                    if f
                    else {"reflection": f"r{i}", "retry": "x", "retry_success": s, "retry_reason": "wrong_value"}
                ),
            }
        )
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    from reflectrl.evaluate import summarize

    (folder / "summary.json").write_text(json.dumps(summarize(records)))


def test_report_numbers_match_hand_computation(tmp_path):
    _fake_eval(tmp_path / "eval-start", [True, False, False, False], [True, True, False, False])
    _fake_eval(tmp_path / "eval-trained", [True, True, False, False], [True, True, True, False])
    result = write_report(tmp_path)
    assert result["table"]["start"]["first_try"]["k"] == 1 and result["table"]["trained"]["second_try"]["k"] == 3
    d = result["paired_differences"]
    assert d["first_try"]["diff"] == pytest.approx(0.25) and d["second_try"]["diff"] == pytest.approx(0.25)
    md = (tmp_path / "report.md").read_text()
    assert "25.0% [4.6, 69.9] (1/4)" in md  # Wilson interval for 1/4
    assert "| start first try | start second try | trained first try | trained second try |" in md
    assert os.path.exists(tmp_path / "plots" / "accuracy.png")


def test_report_breaks_results_down_by_category(tmp_path):
    cats = ["simple", "simple", "parallel", "parallel"]
    _fake_eval(tmp_path / "eval-start", [True, False, False, False], [True, True, False, False], cats)
    _fake_eval(tmp_path / "eval-trained", [True, True, False, False], [True, True, True, False], cats)
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| category | start first try | start second try | trained first try | trained second try |" in md
    # simple: start 1/2 first, 2/2 second; trained 2/2, 2/2. parallel: start 0/2, 0/2; trained 0/2, 1/2.
    simple = next(line for line in md.splitlines() if line.startswith("| simple |"))
    assert "(1/2)" in simple and simple.count("(2/2)") == 3
    parallel = next(line for line in md.splitlines() if line.startswith("| parallel |"))
    assert parallel.count("(0/2)") == 3 and "(1/2)" in parallel


def test_report_counts_why_first_attempts_fail(tmp_path):
    start = ["ok", "bad_json", "bad_json", "wrong_value:city"]
    trained = ["ok", "ok", "wrong_value:unit", "missing_arg:x"]
    _fake_eval(tmp_path / "eval-start", [True, False, False, False], [True] * 4, reasons=start)
    _fake_eval(tmp_path / "eval-trained", [True, True, False, False], [True] * 4, reasons=trained)
    write_report(tmp_path)
    lines = (tmp_path / "report.md").read_text().splitlines()
    row = {line.split(" | ")[0]: line for line in lines if line.startswith("| ") and "%) |" in line}
    assert row["| bad_json"] == "| bad_json | 2 (50.0%) | 0 (0.0%) |"  # ranked first: the most common
    assert row["| wrong_value"] == "| wrong_value | 1 (25.0%) | 1 (25.0%) |"  # argument names folded in
    assert row["| missing_arg"] == "| missing_arg | 0 (0.0%) | 1 (25.0%) |"
    assert "| ok |" not in "\n".join(lines)  # successes are not failure reasons


def test_report_escapes_hostile_model_output(tmp_path):
    """Model output and data are untrusted: a reflection holding markup is shown as text, never run."""
    hostile = '<script>alert(1)</script> </script> <img src=x onerror="alert(2)"> <answer> (67 + 8) / 34 </answer>'
    hostile += " [click](javascript:alert(3)) ![x](http://evil.example/x.png) 3*5*7 `<b>`"
    for label, first in (("eval-start", [False, False]), ("eval-trained", [False, True])):
        _fake_eval(tmp_path / label, first, [False, True])
        path = tmp_path / label / "samples.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for r in records:
            r["id"] = f"{r['id']}<b>"
            r["prompt"] = [{"role": "user", "content": hostile}]
            r["attempt"] = hostile
            if "reflection" in r:
                r.update(reflection=hostile, retry=hostile, retry_reason="wrong_value:<i>x</i>")
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    write_report(tmp_path)
    # The episode browser's own two scripts aside (tests/test_viewer.py runs it on hostile text in Chromium).
    page = (tmp_path / "report.html").read_text().split("<h2 id='episodes-title'>")[0]
    md = (tmp_path / "report.md").read_text()
    for text in (page, _html(md)):  # the markdown too, as a markdown viewer would render it
        tags = _tags(text)
        assert not {name for name, _ in tags} & {"script", "b", "i", "answer", "a", "em"}, tags
        assert all(src.startswith("plots/") for name, attrs in tags if name == "img" for k, src in attrs if k == "src")
        assert not [k for _, attrs in tags for k, _ in attrs if k.startswith("on")], tags
    # The tags are there as text: the browser shows `<answer> (67 + 8) / 34 </answer>`, not `(67 + 8) / 34`.
    assert "&lt;answer&gt; (67 + 8) / 34 &lt;/answer&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=" in page
    assert "[click](javascript:alert(3)) ![x](http://evil.example/x.png) 3*5*7 `&lt;b&gt;`" in page


def test_report_html_shows_raw_html_in_markdown_as_text():
    page = _html("a <script>alert(1)</script> b\n\n<div onclick=x>block</div>\n")
    assert {name for name, _ in _tags(page)} == {"html", "head", "meta", "title", "style", "body", "p"}
    assert "&lt;script&gt;" in page and "&lt;div onclick=x&gt;" in page


def _tags(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element a browser would create from ``page``: (tag name, attributes)."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(page)
    return found


def test_keeping_checkpoints_or_snapshots_does_not_orphan_a_run_folder(tiny_model_dir, tmp_path):
    """keep_checkpoints and snapshot_every say what a run keeps on disk, not what it computes: turning them on to
    extend a run later must not make the pinned config refuse the folder."""
    import yaml

    from reflectrl.pipeline import _changed_keys

    cfg = load_config(tiny_config(tiny_model_dir, tmp_path / "run"))
    pinned = yaml.safe_dump(cfg.model_dump(mode="json"))
    keep = ["train.keep_checkpoints=true", "boost.keep_checkpoints=true", "train.snapshot_every=4"]
    assert _changed_keys(pinned, load_config(tiny_config(tiny_model_dir, tmp_path / "run"), keep)) == []
    steps = load_config(tiny_config(tiny_model_dir, tmp_path / "run"), [*keep, "train.steps=9"])
    assert _changed_keys(pinned, steps) == ["train.steps: 2 -> 9"]


def test_a_rerun_deletes_the_checkpoints_a_kill_left_behind_a_finished_stage(tiny_model_dir, tmp_path):
    """A kill after a stage saved its model but before it deleted its checkpoints: the rerun skips the stage (its
    model is there) and still deletes them, or ~3 GB per stage would stay forever."""
    from reflectrl.pipeline import run_boost, run_train

    cfg = load_config(tiny_config(tiny_model_dir, tmp_path / "run"))
    for stage, rerun in (
        ("boost", lambda out: run_boost(cfg, None, [], out)),
        ("train", lambda out: run_train(cfg, None, "unused", tmp_path, out)),
    ):
        out = tmp_path / stage
        (out / "model").mkdir(parents=True)
        (out / "model" / "config.json").write_text("{}")
        (out / "checkpoints" / "checkpoint-3").mkdir(parents=True)
        (out / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text("{}")
        assert rerun(out) == str(out / "model")
        assert not list((out / "checkpoints").glob("checkpoint-*")), stage


@pytest.mark.parametrize(
    "name", ["countdown-default", "countdown-long", "compare-countdown", "function-calling-default"]
)
def test_shipped_run_configs_load_and_name_a_task(name):
    """A shipped config that no longer validates would fail only when a user runs it: check each here."""
    cfg = load_config(Path(__file__).parent.parent / "configs" / f"{name}.yaml")
    assert get_task(cfg.task.name, **cfg.task.options).name == cfg.task.name
