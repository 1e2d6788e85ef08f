"""`reflectrl paired`: evaluations compared on the problems they share, each run minus the baseline with a paired
interval and McNemar's p, and the mean of several runs (training seeds) per problem, against one baseline or
against one baseline per run (the same seeds of another setting)."""

import gzip
import json
import shutil
import subprocess
import sys

import pytest

from reflectrl.errors import ReflectrlError
from reflectrl.paired import base_group, compare, format_result, labelled
from reflectrl.stats import mcnemar_exact


def _eval(folder, first, second, ids=None, temperature=0.9, leaks=None):
    """An eval folder as `reflectrl eval` writes it: samples.jsonl and eval_identity.json. ``leaks``: per episode
    whether its reflection held a right answer (reflection_measures.leak_verifies), None for no measures."""
    folder.mkdir(parents=True)
    ids = ids or [f"p{i}" for i in range(len(first))]
    leaks = leaks or [None] * len(first)
    with (folder / "samples.jsonl").open("w") as f:
        for i, a, b, leak in zip(ids, first, second, leaks, strict=True):
            episode = {"id": i, "first_try": a, "second_try": b, "attempt": "..."}
            if leak is not None:
                episode["reflection_measures"] = {"leak": leak, "leak_verifies": leak}
            f.write(json.dumps(episode) + "\n")
    identity = {"model": str(folder), "task": {"name": "countdown"}, "episode": {"temperature": temperature}}
    (folder / "eval_identity.json").write_text(json.dumps(identity))
    (folder / "summary.json").write_text(json.dumps({"n": len(first)}))
    return folder


def test_each_run_minus_the_base_is_paired_per_problem(tmp_path):
    base = _eval(tmp_path / "base", [False] * 10, [False] * 8 + [True] * 2)
    # Second try: 4 problems gained, 1 lost (p4 was right for the base) -> +3 of 10, discordant 4 vs 1.
    run = _eval(tmp_path / "run", [True] + [False] * 9, [True] * 4 + [False] * 4 + [False, True])
    r = compare(("base", [base]), [("run", run)])
    assert r["n"] == 10
    assert r["rates"]["base"]["second_try"]["k"] == 2 and r["rates"]["run"]["second_try"]["k"] == 5
    second = r["minus_base"]["run"]["second_try"]
    assert second["diff"] == pytest.approx(0.3)
    assert second["ci_low"] < 0.3 < second["ci_high"]
    a, b = [False] * 8 + [True] * 2, [True] * 4 + [False] * 4 + [False, True]
    assert second["p_mcnemar"] == mcnemar_exact(a, b) == pytest.approx(0.375)
    assert r["minus_base"]["run"]["first_try"]["diff"] == pytest.approx(0.1)
    assert "mean_of_runs" not in r  # one run: nothing to average
    assert "run minus base, second_try: +30.0 pts" in format_result(r) and "McNemar p=0.38" in format_result(r)


def test_a_small_mcnemar_p_keeps_its_digits(tmp_path):
    base = _eval(tmp_path / "base", [False] * 20, [False] * 20)
    run = _eval(tmp_path / "run", [False] * 20, [True] * 20)  # 20 discordant pairs, all one way: p = 2 / 2**20
    text = format_result(compare(("base", [base]), [("run", run)]))
    assert "second_try: +100.0 pts" in text and "McNemar p=1.9e-06" in text


def test_the_mean_of_runs_is_taken_per_problem_and_reports_their_spread(tmp_path):
    base = _eval(tmp_path / "base", [False] * 4, [False] * 4)
    s0 = _eval(tmp_path / "s0", [False] * 4, [True, True, False, False])
    s1 = _eval(tmp_path / "s1", [False] * 4, [True, False, False, False])
    r = compare(("base", [base]), [("s0", s0), ("s1", s1)])
    mean = r["mean_of_runs"]["second_try"]
    assert mean["diff"] == pytest.approx((0.5 + 0.25) / 2)
    assert mean["runs_sd"] == pytest.approx(0.1767767, abs=1e-6)  # sd of +0.50 and +0.25
    # Two runs: t(0.975, 1 df) = 12.706, so the interval over runs is 0.375 +- 12.706 * 0.1768 / sqrt(2).
    assert mean["runs_ci_low"] == pytest.approx(0.375 - 1.5883, abs=1e-3)
    assert mean["runs_ci_high"] == pytest.approx(0.375 + 1.5883, abs=1e-3)
    assert r["mean_of_runs"]["first_try"]["diff"] == 0
    text = format_result(r)
    assert "s0 minus base, second_try: +50.0 pts" in text
    assert "mean of the 2 runs minus base, second_try: +37.5 pts" in text
    assert "t-interval [-121.3, +196.3]" in text


def test_the_non_hollow_second_try_drops_retries_after_a_reflection_that_held_the_answer(tmp_path):
    # p0: the base's retry is its own; the run's retry follows a reflection that already held a right answer.
    base = _eval(tmp_path / "base", [False] * 4, [True, False, False, False], leaks=[False] * 4)
    run = _eval(
        tmp_path / "run", [False, False, True, False], [True, True, True, False], leaks=[True, False, None, False]
    )
    r = compare(("base", [base]), [("run", run)])
    assert r["minus_base"]["run"]["second_try"]["diff"] == pytest.approx(0.5)
    assert r["rates"]["run"]["non_hollow_second_try"]["k"] == 2  # p1's retry and p2's first try
    assert r["minus_base"]["run"]["non_hollow_second_try"]["diff"] == pytest.approx(0.25)
    text = format_result(r)
    assert "| evaluation | first try | second try | second try, non-hollow |" in text
    assert "run minus base, non_hollow_second_try: +25.0 pts" in text
    two = compare(("base", [base]), [("run", run), ("again", run)])
    assert two["mean_of_runs"]["non_hollow_second_try"]["diff"] == pytest.approx(0.25)

    # A right retry without measures (an evaluation from before they existed): the row is left out, and said so.
    old = _eval(tmp_path / "old", [False] * 4, [True, False, False, False])
    r = compare(("base", [base]), [("old", old)])
    assert "non_hollow_second_try" not in r["rates"]["base"] and r["non_hollow_unknown"] == ["old"]
    assert "(non-hollow second try not measured: old lack reflection_measures" in format_result(r)
    # An explicit null is as unknown as a missing key.
    (old / "samples.jsonl").write_text(
        json.dumps({"id": "p0", "first_try": False, "second_try": True, "reflection_measures": None}) + "\n"
    )
    assert compare(("base", [base]), [("old", old)])["non_hollow_unknown"] == ["old"]


def test_one_baseline_per_run_pairs_seed_by_seed_and_compares_the_settings_per_problem(tmp_path):
    # Two seeds of setting "plain" and two of "new" on 4 problems (second try):
    #   plain[0] 1100, plain[1] 1000; new0 1110 (+1/4 on plain[0]), new1 1101 (+2/4 on plain[1]).
    plain0 = _eval(tmp_path / "plain0", [False] * 4, [True, True, False, False])
    plain1 = _eval(tmp_path / "plain1", [False] * 4, [True, False, False, False])
    new0 = _eval(tmp_path / "new0", [False] * 4, [True, True, True, False])
    new1 = _eval(tmp_path / "new1", [True, False, False, False], [True, True, False, True])
    r = compare(("plain", [plain0, plain1]), [("new0", new0), ("new1", new1)])
    assert r["base_of"] == {"new0": "plain[0]", "new1": "plain[1]"}
    assert set(r["rates"]) == {"plain[0]", "plain[1]", "new0", "new1"}
    assert r["minus_base"]["new0"]["second_try"]["diff"] == pytest.approx(0.25)
    assert r["minus_base"]["new1"]["second_try"]["diff"] == pytest.approx(0.5)
    assert r["minus_base"]["new1"]["first_try"]["diff"] == pytest.approx(0.25)
    mean = r["mean_of_runs"]["second_try"]
    # Per problem (new0 + new1)/2 - (plain0 + plain1)/2 = 0, 0.5, 0.5, 0.5 -> mean 0.375; seeds +0.25, +0.5.
    assert mean["diff"] == pytest.approx(0.375)
    assert mean["runs_sd"] == pytest.approx(0.1767767, abs=1e-6)
    text = format_result(r)
    assert "new0 minus plain[0], second_try: +25.0 pts" in text
    assert "new1 minus plain[1], first_try: +25.0 pts" in text
    assert "mean of the 2 runs minus plain, second_try: +37.5 pts" in text
    assert f"plain[1] = {plain1}" in text and r["folders"]["new1"] == str(new1)

    # Pairing is by position: swapping the baselines changes each run's difference.
    swapped = compare(("plain", [plain1, plain0]), [("new0", new0), ("new1", new1)])
    assert swapped["minus_base"]["new0"]["second_try"]["diff"] == pytest.approx(0.5)
    with pytest.raises(ReflectrlError, match="plain names 2 evaluations for 3 runs: give one baseline, or one per run"):
        compare(("plain", [plain0, plain1]), [("new0", new0), ("new1", new1), ("again", new0)])


def test_every_evaluation_is_checked_against_the_first_baseline(tmp_path, capsys):
    # Seed 1 of both settings ran at another temperature: each run matches its own baseline, not the others.
    plain0 = _eval(tmp_path / "plain0", [False], [True])
    plain1 = _eval(tmp_path / "plain1", [False], [True], temperature=0.0)
    new0 = _eval(tmp_path / "new0", [False], [True])
    new1 = _eval(tmp_path / "new1", [False], [True], temperature=0.0)
    compare(("plain", [plain0, plain1]), [("new0", new0), ("new1", new1)])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "plain[1] was evaluated with other settings than plain[0] (episode.temperature)" in err
    assert "new1 was evaluated with other settings than plain[0]" in err and "new0 was" not in err


def test_only_shared_problems_count_and_other_settings_are_named(tmp_path, capsys):
    base = _eval(tmp_path / "base", [False, False, True], [False, False, True], ids=["a", "b", "c"])
    run = _eval(tmp_path / "run", [True, True], [True, True], ids=["a", "b"], temperature=0.7)
    r = compare(("base", [base]), [("run", run)])
    assert r["n"] == 2 and r["minus_base"]["run"]["first_try"]["diff"] == pytest.approx(1.0)
    err = capsys.readouterr().err
    assert "base: 1 of its 3 problems are not in every evaluation" in err
    assert "run was evaluated with other settings than base (episode.temperature)" in err


def test_bad_input_is_one_clear_error(tmp_path):
    base = _eval(tmp_path / "base", [False], [True])
    (tmp_path / "run").mkdir()
    not_eval = (
        r"run: no samples\.jsonl \(nor an archived samples\.jsonl\.gz\), so not an evaluation folder; "
        r"a run folder's evaluations are"
    )
    with pytest.raises(ReflectrlError, match=not_eval):
        compare(("base", [base]), [("run", tmp_path / "run")])
    other = _eval(tmp_path / "other", [True], [True], ids=["zz"])
    with pytest.raises(ReflectrlError, match="share no problem ids"):
        compare(("base", [base]), [("other", other)])
    with pytest.raises(ReflectrlError, match="two evaluations share a name"):
        compare(("x", [base]), [("x", other)])
    torn = _eval(tmp_path / "torn", [True], [True])
    (torn / "eval_identity.json").write_text("{torn")
    with pytest.raises(ReflectrlError, match=r"torn/eval_identity\.json cannot be read \(JSONDecodeError\)"):
        compare(("base", [base]), [("torn", torn)])
    bad = _eval(tmp_path / "bad", [True], [True])
    (bad / "samples.jsonl").write_text('{"id": "p0", "first_try": 1, "second_try": true}\n')
    with pytest.raises(ReflectrlError, match=r"samples.jsonl:1: an episode needs an id and first_try/second_try"):
        compare(("base", [base]), [("bad", bad)])
    episode = {"id": "p0", "first_try": False, "second_try": True, "reflection_measures": 1}
    (bad / "samples.jsonl").write_text(json.dumps(episode) + "\n")
    with pytest.raises(ReflectrlError, match=r"samples.jsonl:1: reflection_measures must be an object"):
        compare(("base", [base]), [("bad", bad)])
    (bad / "samples.jsonl").write_text("3\n")
    with pytest.raises(ReflectrlError, match=r"samples.jsonl:1: an episode needs an id"):
        compare(("base", [base]), [("bad", bad)])
    episode = {"id": "p0", "first_try": False, "second_try": True}
    (bad / "samples.jsonl").write_text(json.dumps(episode) + "\n" + json.dumps(episode) + "\n")
    with pytest.raises(ReflectrlError, match=r"samples.jsonl:2: problem 'p0' appears a second time"):
        compare(("base", [base]), [("bad", bad)])
    with pytest.raises(ReflectrlError, match=r"x=a,,b: an empty folder name between commas"):
        base_group("x=a,,b")


def test_an_archived_evaluation_with_gzipped_samples_compares_as_the_original(tmp_path):
    base = _eval(tmp_path / "base", [False] * 6, [False, False, False, False, True, False])
    run = _eval(tmp_path / "run", [True, False, False, False, False, False], [True, True, True, False, False, False])
    before = compare(("base", [base]), [("run", run)])
    for folder in (base, run):
        with (folder / "samples.jsonl").open("rb") as f, gzip.open(folder / "samples.jsonl.gz", "wb") as z:
            shutil.copyfileobj(f, z)
        (folder / "samples.jsonl").unlink()
    after = compare(("base", [base]), [("run", run)])
    assert after == before and after["minus_base"]["run"]["second_try"]["diff"] == pytest.approx(2 / 6)
    whole = (run / "samples.jsonl.gz").read_bytes()
    (run / "samples.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # an archive cut off in transfer
    with pytest.raises(ReflectrlError, match=r"run/samples\.jsonl\.gz: not a readable gzip file \(EOFError"):
        compare(("base", [base]), [("run", run)])
    (run / "samples.jsonl.gz").write_bytes(b"not gzip at all\n")
    with pytest.raises(ReflectrlError, match=r"samples\.jsonl\.gz: not a readable gzip file \(BadGzipFile"):
        compare(("base", [base]), [("run", run)])


def test_an_evaluation_without_its_summary_is_compared_with_a_warning(tmp_path, capsys):
    base = _eval(tmp_path / "base", [False, False], [False, True])
    running = _eval(tmp_path / "running", [True], [True], ids=["p0"])
    (running / "summary.json").unlink()
    r = compare(("base", [base]), [("running", running)])
    assert r["n"] == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "running: no summary.json, so the evaluation is still running or was cut short" in err


def test_a_summary_counting_fewer_problems_than_the_samples_is_named(tmp_path, capsys):
    base = _eval(tmp_path / "base", [False, False, True], [False, True, True])
    resumed = _eval(tmp_path / "resumed", [True, False, False], [True, True, False])
    (resumed / "summary.json").write_text(json.dumps({"n": 2}))  # resumed with eval.limit 2 after 3 were done
    assert compare(("base", [base]), [("resumed", resumed)])["n"] == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "resumed: samples.jsonl holds 3 problems, summary.json 2 (eval.limit changed?); comparing the 3" in err
    assert "base:" not in err
    (resumed / "summary.json").write_text("[1, 2")
    with pytest.raises(ReflectrlError, match=r"summary.json cannot be read \(JSONDecodeError\)"):
        compare(("base", [base]), [("resumed", resumed)])
    (resumed / "summary.json").write_text("[1, 2]")
    with pytest.raises(ReflectrlError, match=r"summary.json cannot be read \(not a JSON object\)"):
        compare(("base", [base]), [("resumed", resumed)])


def test_cli_prints_the_table_and_writes_json(tmp_path):
    base = _eval(tmp_path / "a" / "eval-trained", [False] * 4, [False] * 4)
    run = _eval(tmp_path / "b" / "eval-trained", [False] * 4, [True] * 2 + [False] * 2)
    code = "from reflectrl.cli import main; main()"
    args = ["paired", f"boost={base}", f"seed0={run}", "--out", str(tmp_path / "p.json")]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "seed0 minus boost, second_try: +50.0 pts" in result.stdout
    assert json.loads((tmp_path / "p.json").read_text())["minus_base"]["seed0"]["second_try"]["diff"] == 0.5
    per_seed = ["paired", f"plain={base},{run}", f"new0={run}", f"new1={base}"]
    result = subprocess.run([sys.executable, "-c", code, *per_seed], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "new0 minus plain[0], second_try: +50.0 pts" in result.stdout
    assert "new1 minus plain[1], second_try: -50.0 pts" in result.stdout
    clash = subprocess.run([sys.executable, "-c", code, "paired", str(base), str(base)], capture_output=True, text=True)
    assert clash.returncode == 1 and clash.stderr.strip().splitlines()[-1].startswith("error: two evaluations share")


def test_labels_are_optional_and_a_folder_may_have_an_equals_sign(tmp_path):
    lr = _eval(tmp_path / "lr=1e-5", [True], [True])
    assert labelled(str(lr)) == (str(lr), lr)
    assert labelled(f"seed0={lr}") == ("seed0", lr)
    assert labelled(str(tmp_path / "a")) == (str(tmp_path / "a"), tmp_path / "a")
    assert base_group(f"plain={lr},{tmp_path / 'b'}") == ("plain", [lr, tmp_path / "b"])
    assert base_group(str(lr)) == (str(lr), [lr])
    comma = _eval(tmp_path / "a,b", [True], [True])
    assert base_group(f"x={comma}") == ("x", [comma])  # an existing folder with "," in its name is one folder
    lr2 = _eval(tmp_path / "lr=1e-4", [True], [True])
    assert base_group(f"{lr},{lr2}") == (f"{lr},{lr2}", [lr, lr2])  # unlabelled: "=" is part of the folders
