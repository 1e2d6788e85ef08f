"""Long fuzz run of the built-in verifiers: inputs per second and the slowest input seen per verifier.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz_verifiers.py --inputs 200000

Inputs are random text, random bracket/operator soup, near-valid answers with one perturbation, and the
adversarial corpus' kinds at random sizes (deep nesting, ** towers, huge numbers, surrogates, NUL bytes).
Every input must get a Verdict with a non-empty reason; the script stops on the first that does not.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from reflectrl.tasks import Verdict, get_task

COUNTDOWN_EX = {"id": "cd", "nums": [3, 5, 7, 11], "target": 33}  # 3 * 5 + 11 + 7
XLAM_EX = {
    "id": "x",
    "source": "xlam",
    "category": None,
    "messages": [],
    "functions": [],
    "answers": [{"name": "weather", "arguments": {"city": "Paris", "days": 3}}],
}
BFCL_EX = {
    "id": "b",
    "source": "bfcl",
    "category": "simple_python",
    "messages": [],
    "functions": [
        {
            "name": "weather",
            "description": "",
            "parameters": {
                "type": "dict",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        }
    ],
    "answers": [{"weather": {"city": ["Paris", "paris"], "days": [3, ""]}}],
}
SOUP = '0123456789+-*/() <answer></answer>[]{}":,.eE\\ \n\x00٣−×'


def rand_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 5, 30, 200, 2000])
    if rng.random() < 0.5:
        return "".join(rng.choice(SOUP) for _ in range(n))
    return "".join(chr(rng.randrange(0x110000)) for _ in range(n))


def adversarial(rng: random.Random) -> object:
    k = rng.randrange(10)
    n = rng.choice([10, 100, 1_000, 10_000, 100_000])
    return [
        "<answer>" + "(" * n + "3" + ")" * n + "</answer>",
        "<answer>" + "**".join(["9"] * rng.randint(2, 200)) + "</answer>",
        "[" * n,
        '{"a":' * n,
        '[{"name": "weather", "arguments": {"days": 1e' + "9" * rng.randint(3, 8) + "}}]",
        '[{"name": "weather", "arguments": {"days": ' + "9" * n + "}}]",
        '[{"name": "\\ud800", "arguments": {"\\udfff": 1}}]',
        "\x00" * n,
        "x" * (n * 100),
        rng.choice([None, 12, 1.5, b"[]", ["<answer>1</answer>"], {"name": "weather"}]),
    ][k]


def near_countdown(rng: random.Random) -> str:
    answer = rng.choice(["3 * 5 + 11 + 7", "(3 * 5) + 11 + 7", "7 + 11 + 5 * 3", "3 * (5 + 7) - 11"])
    if rng.random() < 0.5:
        i = rng.randrange(len(answer) + 1)
        answer = answer[:i] + rng.choice(SOUP) + answer[i:]
    return f"<answer> {answer} </answer>"


def near_calls(rng: random.Random) -> str:
    args: dict = {
        "city": rng.choice(["Paris", "paris", "PARIS", "Rome", 3]),
        "days": rng.choice([3, 3.0, "3", 4, True]),
    }
    if rng.random() < 0.2:
        args.pop("days")
    text = json.dumps([{"name": rng.choice(["weather", "weather", "news"]), "arguments": args}])
    return rng.choice([text, f"<tool_call>{text[1:-1]}</tool_call>", f"```json\n{text}\n```", text[:-1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="Inputs per verifier.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    countdown, fc = get_task("countdown", train_size=1, test_size=1), get_task("function_calling")
    verifiers = [
        ("countdown", countdown, COUNTDOWN_EX, near_countdown),
        ("function_calling/bfcl", fc, BFCL_EX, near_calls),
        ("function_calling/xlam", fc, XLAM_EX, near_calls),
    ]
    head = f"{'verifier':<24}{'inputs':>9}{'inputs/s':>11}{'successes':>11}{'slowest ms':>12}{'re-timed':>10}"
    print(f"{head}  slowest input")
    for name, task, example, near in verifiers:
        rng = random.Random(args.seed)
        slowest, slowest_input, successes, total = 0.0, None, 0, 0.0
        for _ in range(args.inputs):
            r = rng.random()
            completion = rand_text(rng) if r < 0.4 else near(rng) if r < 0.8 else adversarial(rng)
            started = time.perf_counter()
            verdict = task.verify(example, completion)
            elapsed = time.perf_counter() - started
            total += elapsed
            assert isinstance(verdict, Verdict) and verdict.reason, (completion, verdict)
            successes += verdict.success
            if elapsed > slowest:
                slowest, slowest_input = elapsed, completion
        # The single slowest call on a shared machine includes preemption: time that input again, best of 5.
        again = []
        for _ in range(5):
            started = time.perf_counter()
            task.verify(example, slowest_input)
            again.append(time.perf_counter() - started)
        shown = repr(slowest_input)
        shown = shown if len(shown) <= 60 else f"{shown[:45]}... ({len(slowest_input)} chars)"  # type: ignore[arg-type]
        rate = args.inputs / total
        row = f"{name:<24}{args.inputs:>9}{rate:>11.0f}{successes:>11}{1000 * slowest:>12.2f}{1000 * min(again):>10.2f}"
        print(f"{row}  {shown}")


if __name__ == "__main__":
    main()
