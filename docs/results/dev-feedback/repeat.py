"""How often, after a failed attempt, the retry (after a reflection), the fresh resample and (feedback variant)
the retry on feedback alone give the same answer as the failed attempt (by value for an equation over the right
numbers, by text otherwise), and how often a fresh sample that differs from the failed answer succeeds.
Run with the repo's venv:  python repeat.py <eval folder> [...]   (3-number Countdown evaluations)"""

import json
import sys

from reflectrl.tasks import get_task

task = get_task("countdown", numbers=3, seed=0, train_size=5000, test_size=1000, reflection_style="rule")


def numbers(record):
    question = record["prompt"][-1]["content"]
    start = question.index("[")
    return [int(x) for x in question[start + 1 : question.index("]", start)].split(",")]


def same_as_attempt(record, field):
    example = {"id": record["id"], "nums": numbers(record), "target": None}
    key = task.answer_key(example, record[field])
    return key is not None and key == task.answer_key(example, record["attempt"])


for folder in sys.argv[1:]:
    records = [json.loads(line) for line in open(f"{folder}/samples.jsonl")]
    failed = [r for r in records if not r["attempt_success"]]
    n = len(failed)
    line = f"{folder}: failures {n}"
    for field in ("retry", "resample", "feedback_retry"):
        with_field = [r for r in failed if field in r]
        if with_field:
            k = sum(same_as_attempt(r, field) for r in with_field)
            line += f"; {field} repeats the failed answer {k}/{len(with_field)} ({100 * k / len(with_field):.1f}%)"
    differ = [r for r in failed if not same_as_attempt(r, "resample")]
    ok = sum(r["resample_success"] for r in differ)
    total = sum(r["resample_success"] for r in failed)
    line += f"; resample success {total}/{n} ({100 * total / n:.1f}%), among those that differ {ok}/{len(differ)}"
    print(line + f" ({100 * ok / len(differ):.1f}%)")
