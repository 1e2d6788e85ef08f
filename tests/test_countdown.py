import json
import random
import time

import pytest

from reflectrl.errors import ReflectrlError
from reflectrl.tasks import get_task, list_tasks
from reflectrl.tasks.countdown import _solutions_by_value, reachable_targets, solve, solve_all


def test_registry_lists_countdown_and_rejects_unknown():
    assert "countdown" in list_tasks()
    with pytest.raises(ReflectrlError, match="unknown task"):
        get_task("nope")
    with pytest.raises(ReflectrlError, match="numbrs"):
        get_task("countdown", numbrs=3)
    with pytest.raises(ReflectrlError, match="numbers"):
        get_task("countdown", numbers="three")


def test_solver_finds_only_valid_solutions():
    task = get_task("countdown")
    rng = random.Random(0)
    for _ in range(50):
        nums = [rng.randint(1, 30) for _ in range(rng.choice([3, 4]))]
        for target in reachable_targets(nums, 1, 200)[:5]:
            solutions = solve_all(nums, target)
            assert solutions
            for s in solutions:
                v = task.verify({"nums": nums, "target": target}, f"<answer> {s} </answer>")
                assert v.success, (nums, target, s, v)


def test_reachable_values_match_brute_force_enumeration():
    rng = random.Random(1)
    for _ in range(100):
        nums = tuple(rng.randint(0, 12) for _ in range(rng.choice([2, 3, 4])))
        brute = sorted(int(v) for v in _solutions_by_value(nums) if v.denominator == 1)
        assert reachable_targets(nums, -(10**9), 10**9) == brute


def test_solve_known_and_impossible():
    solution = solve([1, 2, 3], 6)
    assert solution is not None
    assert get_task("countdown").verify({"nums": [1, 2, 3], "target": 6}, f"<answer>{solution}</answer>").success
    assert solve([1, 1, 1], 100) is None


def test_generated_problems_are_solvable_and_in_range():
    task = get_task("countdown", train_size=200, test_size=50, seed=3)
    for ex in task.load("train") + task.load("test"):
        assert len(ex["nums"]) == 3 and all(1 <= n <= 99 for n in ex["nums"])
        assert 1 <= ex["target"] <= 999
        assert solve(ex["nums"], ex["target"]) is not None


def test_splits_disjoint_deterministic_and_size_independent():
    a = get_task("countdown", train_size=300, test_size=100, seed=7)
    b = get_task("countdown", train_size=300, test_size=100, seed=7)
    train, test = a.load("train"), a.load("test")
    assert len(train) == 300 and len(test) == 100
    assert not {e["id"] for e in train} & {e["id"] for e in test}
    assert train == b.load("train") and test == b.load("test")
    # Growing the train split never moves problems into or out of the test split.
    bigger = get_task("countdown", train_size=600, test_size=100, seed=7)
    assert bigger.load("test") == test and bigger.load("train")[:300] == train
    assert get_task("countdown", seed=8, train_size=300, test_size=10).load("train") != train


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("<answer> (50 + 54) - 98 </answer>", "ok"),
        ("blah <answer>1</answer> then <answer>50+54-98</answer>", "ok"),
        ("no tags at all", "no_answer"),
        ("<answer> 50 + 54 - 98", "no_answer"),
        ("<answer>   </answer>", "no_answer"),
        ("<answer> 50 + 54 + 98 </answer>", "wrong_value"),
        ("<answer> 50 + 54 - 97 </answer>", "wrong_numbers"),
        ("<answer> 50 + 50 - 98 </answer>", "wrong_numbers"),
        ("<answer> 50 + 54 - 98 + 0 </answer>", "wrong_numbers"),
        ("<answer> 50 + 54 </answer>", "wrong_numbers"),
        ("<answer> 50 / (54 - 54) + 98 </answer>", "wrong_numbers"),
        ("<answer> 98 / (54 - 50 - 4) </answer>", "wrong_numbers"),
        ("<answer> 50 + 54 -- 98 </answer>", "bad_syntax"),
        ("<answer> (50 + 54 - 98 </answer>", "bad_syntax"),
        ("<answer> 50 ** 54 - 98 </answer>", "bad_syntax"),
        ("<answer> 50 // 54 - 98 </answer>", "bad_syntax"),
        ("<answer> 50 + 54 = 98 </answer>", "bad_character"),
        ("<answer> 50 × 54 − 98 </answer>", "bad_character"),
        ("<answer> 50.0 + 54 - 98 </answer>", "bad_character"),
        ("<answer> ５0 + 54 - 98 </answer>", "bad_character"),
    ],
)
def test_verifier_rules(answer, reason):
    v = get_task("countdown").verify({"nums": [50, 98, 54], "target": 6}, answer)
    assert v.reason == reason and v.success == (reason == "ok")


def test_division_is_exact_and_division_by_zero_is_named():
    task = get_task("countdown")
    assert task.verify({"nums": [1, 3, 3], "target": 1}, "<answer> 1 / 3 * 3 </answer>").success
    assert task.verify({"nums": [2, 2, 4], "target": 4}, "<answer>4 / (2 - 2)</answer>").reason == "division_by_zero"


@pytest.mark.parametrize(
    "hostile",
    [
        "<answer>__import__('os').system('x')</answer>",
        "<answer>9**9**9</answer>",
        "<answer>" + "1" * 1_000_000 + "</answer>",
        "x" * 1_000_000,
        "<answer>" + "(" * 5000 + "1" + ")" * 5000 + "</answer>",
        "<answer>１２ + 3</answer>",
        "<answer>1 + 1 + 1</answer>",  # reuses a number
        "<answer>\x00</answer>",
        "<answer>" + "+".join(["1"] * 100) + "</answer>",
    ],
)
def test_hostile_inputs_are_rejected_fast(hostile):
    task = get_task("countdown")
    start = time.perf_counter()
    v = task.verify({"nums": [1, 2, 3], "target": 6}, hostile)
    assert time.perf_counter() - start < 0.05
    assert not v.success and v.reason != "ok"


def test_non_text_completion_is_a_verdict_not_an_exception():
    assert get_task("countdown").verify({"nums": [1], "target": 1}, None).reason == "not_text"  # type: ignore[arg-type]


def test_answer_key_groups_equivalent_equations():
    task = get_task("countdown")
    ex = {"nums": [1, 2, 3], "target": 6}
    assert task.answer_key(ex, "<answer>1+2+3</answer>") == task.answer_key(ex, "<answer> 3 * 2 * 1 </answer>")
    assert task.answer_key(ex, "<answer>1+2+3</answer>") != task.answer_key(ex, "<answer>1+2*3</answer>")
    assert task.answer_key(ex, "nothing") is None


def test_boost_examples_are_verified_solutions():
    task = get_task("countdown", train_size=30, test_size=5)
    for ex in task.load("train"):
        [(messages, completion)] = task.boost_examples(ex)
        assert messages == task.messages(ex)
        assert task.verify(ex, completion).success


def test_boost_reflections_value_style_states_the_true_value_and_rule_style_only_what_counting_shows():
    import re

    from reflectrl.tasks.countdown import parse_equation

    value_task = get_task("countdown", train_size=60, test_size=5)
    rule_task = get_task("countdown", train_size=60, test_size=5, reflection_style="rule")
    seen = {"value": 0, "numbers": 0}
    for ex in value_task.load("train"):
        [(attempt, stated)] = value_task.boost_reflections(ex, seed=1)
        [(same_attempt, rule)] = rule_task.boost_reflections(ex, seed=1)
        assert same_attempt == attempt  # the styles differ in the reflection only
        expr = attempt.removeprefix("<answer> ").removesuffix(" </answer>")
        literals, value = parse_equation(expr)
        assert not value_task.verify(ex, attempt).success
        if sorted(literals) == sorted(ex["nums"]):
            seen["value"] += 1
            assert f" {value}" in stated  # "equals 102" / "= 102" / "gives 102"
            said = re.findall(r"\d+", rule.replace(expr, ""))
            assert "once" in rule and (str(value) not in said or value in ex["nums"])
        else:
            seen["numbers"] += 1
            missing = [n for n in ex["nums"] if literals.count(n) < ex["nums"].count(n)]
            extra = [n for n in literals if literals.count(n) > ex["nums"].count(n)]
            assert all(f"{n}" in rule.split("missing")[0] for n in missing) and "missing" in rule
            assert ("not one of the given numbers" in rule) == bool(extra)
        # No number in a rule reflection that the model could not copy from the problem or its own attempt.
        allowed = {*map(str, ex["nums"]), str(ex["target"]), *map(str, literals)}
        assert set(re.findall(r"\d+", rule)) <= allowed, rule
    assert seen["value"] and seen["numbers"]


def test_hint_style_reflections_name_the_first_step_of_the_answer_the_boost_retries_with():
    """reflection_style: hint = the rule reflection, then a first step of the very solution the boost's retry row
    writes (its first-try answer): a step the retry can build on, both of whose numbers the answer uses."""
    from reflectrl.config import EpisodeConfig
    from reflectrl.tasks.countdown import _example, _first_step
    from reflectrl.train.boost import boost_rows

    rule_task = get_task("countdown", train_size=40, test_size=5, reflection_style="rule")
    hint_task = get_task("countdown", train_size=40, test_size=5, reflection_style="hint")
    for ex in hint_task.load("train"):
        [(attempt, hint)] = hint_task.boost_reflections(ex, seed=1)
        [(_, answer)] = hint_task.boost_examples(ex)
        [(same_attempt, rule)] = rule_task.boost_reflections(ex, seed=1)
        assert same_attempt == attempt and hint.startswith(rule + " I will start from ")
        step = hint.removeprefix(rule + " I will start from ").removesuffix(".")
        solution = answer.removeprefix("<answer> ").removesuffix(" </answer>")
        assert step == _first_step(solution) and step.replace(" ", "") in solution.replace(" ", "")
    [(_, unsolvable)] = hint_task.boost_reflections(_example([1, 1, 1], 999))
    assert "start from" not in unsolvable  # no solution: no first step to hint at
    assert _first_step("(53 - 21) * 2") == _first_step("2 * (53 - 21)") == "53 - 21"
    assert _first_step("2 * 3 + 4 * 5") == "2 * 3" and _first_step("53 + 21 - 10") == "53 + 21"
    # In the boost's rows the retry after a hint reflection is the solution the hint starts.
    rows = boost_rows(hint_task, hint_task.load("train"), EpisodeConfig(), 1.0, 0)
    retries = [r for r in rows if len(r["prompt"]) > 1 and "I will start from" in r["prompt"][-2]["content"]]
    assert retries
    for row in retries:
        hint, answer = row["prompt"][-2]["content"], row["completion"][0]["content"]
        assert hint.split("I will start from ")[1].removesuffix(".").replace(" ", "") in answer.replace(" ", "")


def test_data_file_formats_and_malformed_records(tmp_path):
    rows = [
        {"target": 6, "nums": [1, 2, 3]},
        {"target": 24, "nums": [4, 6, 1, 1]},
        {"target": 10, "nums": [5, 5]},
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(r) for r in rows) + '\n{"target": "x", "nums": [1]}\nnot json\n{"nums": [1, 2]}\n'
    )
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps(rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, as_json, parquet):
        task = get_task("countdown", data_file=str(path), test_fraction=0.5)
        got = task.load("train") + task.load("test")
        assert sorted((e["target"], tuple(e["nums"])) for e in got) == sorted(
            (r["target"], tuple(r["nums"])) for r in rows
        )
    with pytest.raises(ReflectrlError, match=r"p.jsonl:4: 'target' must be an integer"):
        get_task("countdown", data_file=str(jsonl), strict=True).load("train")
    six = tmp_path / "six.jsonl"  # the TV show's six numbers: ~10^8 expressions for the solver, refused
    six.write_text(json.dumps({"target": 952, "nums": [25, 50, 75, 100, 3, 6]}) + "\n")
    with pytest.raises(ReflectrlError, match=r"six.jsonl:1: 'nums' must list 1 to 5 non-negative integers"):
        get_task("countdown", data_file=str(six), strict=True).load("train")
    with pytest.raises(ReflectrlError, match="not found"):
        get_task("countdown", data_file=str(tmp_path / "missing.jsonl")).load("train")


def test_one_reader_for_both_tasks_data_files(tmp_path):
    from reflectrl.jsonl import BadLine, data_records

    lines = tmp_path / "d.jsonl"
    lines.write_text('{"a": 1}\n\n{bad\n[1]\n{"x": ' + "9" * 5000 + "}\n")
    assert data_records(lines) == [
        (f"{lines}:1", {"a": 1}),
        (f"{lines}:3", BadLine("Expecting property name enclosed in double quotes")),
        (f"{lines}:4", [1]),  # JSON, but not an object: each task says what it expects
        (f"{lines}:5", BadLine(data_records(lines)[3][1].error)),
    ]
    assert data_records(lines)[3][1].error.startswith("ValueError: Exceeds the limit")  # not a crash
    listed = tmp_path / "d.json"
    listed.write_text('[{"a": 1}, 2]')
    assert data_records(listed) == [(f"{listed}:item 0", {"a": 1}), (f"{listed}:item 1", 2)]
    listed.write_text('[{"a": 1},\n oops]')
    with pytest.raises(ReflectrlError, match=r"d.json: invalid JSON at line 2: Expecting value"):
        data_records(listed)
    with pytest.raises(ReflectrlError, match=r"missing.jsonl: cannot read \(FileNotFoundError"):
        data_records(tmp_path / "missing.jsonl")


def test_user_task_from_file(tmp_path):
    f = tmp_path / "parity.py"
    f.write_text(
        "from reflectrl.tasks import Task, Verdict, register_task\n"
        "@register_task\n"
        "class Parity(Task):\n"
        "    name = 'parity'\n"
        "    def load(self, split):\n"
        "        return [{'id': str(i), 'n': i} for i in range(10 if split == 'train' else 3)]\n"
        "    def messages(self, ex):\n"
        "        return [{'role': 'user', 'content': f\"Is {ex['n']} even? yes/no\"}]\n"
        "    def verify(self, ex, completion):\n"
        "        ok = ('yes' in completion) == (ex['n'] % 2 == 0)\n"
        "        return Verdict.ok() if ok else Verdict.fail('wrong')\n"
    )
    task = get_task(f"{f}:parity")
    assert len(task.load("train")) == 10
    assert task.verify({"n": 2}, "yes").success
    bad = tmp_path / "bad.py"
    bad.write_text("from reflectrl.tasks import Task, register_task\n@register_task\nclass B(Task):\n    name='b'\n")
    with pytest.raises(ReflectrlError, match="not implemented"):
        get_task(f"{bad}:b")


def test_reference_answers_are_every_solution_in_the_boosts_form_and_all_verify():
    task = get_task("countdown", train_size=30, test_size=2)
    for ex in task.load("train"):
        answers = task.reference_answers(ex)
        assert len(answers) == len(solve_all(ex["nums"], ex["target"])) >= 1
        assert all(task.verify(ex, a).success for a in answers)
        boosted = task.boost_examples(ex)[0][1]
        assert boosted in answers  # the form the boost teaches, so the model writes them token for token
