"""`reflectrl forgetting`: lm-eval benchmarks on local files in their standard formats, cross-task
first-try accuracy, and the report (scores, B - A, CIs, data provenance)."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tiny import choice_logliks
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.errors import ReflectrlError
from reflectrl.forgetting import BENCHMARKS, lm_eval_tasks_dir, online_task_names, run_forgetting
from reflectrl.jsonl import read_jsonl

runner = CliRunner()


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gsm8k(question: str, solution: str, final: str) -> dict:
    return {"question": question, "answer": f"{solution}\n#### {final}"}


def _math(problem: str, boxed: str) -> dict:
    return {
        "problem": problem,
        "level": "Level 1",
        "type": "Algebra",
        "solution": f"Working it out, the answer is $\\boxed{{{boxed}}}$.",
    }


def _mmlu_pro(i: int, question: str, options: list[str], answer_index: int) -> dict:
    return {
        "question_id": i,
        "question": question,
        "options": options,
        "answer": "ABCDEFGHIJ"[answer_index],
        "answer_index": answer_index,
        "cot_content": "",
        "category": "math",
        "src": "fixture",
    }


def _hellaswag(i: int, ctx_a: str, ctx_b: str, endings: list[str], label: int) -> dict:
    return {
        "ind": i,
        "activity_label": "Cooking",
        "ctx_a": ctx_a,
        "ctx_b": ctx_b,
        "ctx": f"{ctx_a} {ctx_b}",
        "endings": endings,
        "source_id": f"fixture~{i}",
        "split": "val",
        "split_type": "indomain",
        "label": str(label),  # the hub copy stores labels as strings
    }


# --- lm-eval scoring on scripted answers: every number below is computed by hand ----------------------

GSM8K_ROWS = [
    _gsm8k("Tom has 2 apples and buys 1. How many?", "2 + 1 = 3.", "3"),
    _gsm8k("A car costs 500 dollars twice. Total?", "500 * 2 = 1000.", "1,000"),
    _gsm8k("What is 3 + 4?", "3 + 4 = 7.", "7"),
]
MATH_ROWS = [_math("Halve 1.", "\\frac12"), _math("Solve x - 1 = 4.", "5"), _math("Add 3 and 4.", "7")]
MMLU_ROWS = [
    _mmlu_pro(0, "Which is prime?", ["4", "6", "7", "8"], 2),
    _mmlu_pro(1, "Which is even?", ["3", "2", "5"], 1),
    _mmlu_pro(2, "Pick the last.", [str(k) for k in range(10)], 9),
]
HELLASWAG_ROWS = [
    _hellaswag(0, "A man slices", "the bread", ["aa", "bbbbbbbb", "cc", "dd"], 1),
    _hellaswag(1, "A woman stirs", "the soup", ["aa", "bbbbbbbb", "cc", "dd"], 0),
    _hellaswag(2, "A cook boils", "the pasta", ["aa", "bbbbbbbb", "cc", "dd"], 1),
]

# Model A's and B's answers, by a text that identifies the question in the prompt.
ANSWERS = {
    "A": {
        "Tom has": " He has 3 apples.",  # flexible-extract takes the last number: 3 == 3
        "A car costs": " It costs $1,000.",  # "$" and "," are ignored: 1000 == 1,000
        "What is 3 + 4": " 3 + 4 = 8",  # 8 != 7
        "Halve 1.": " The answer is $\\frac{1}{2}$.",  # is_equiv: \frac{1}{2} == \frac12
        "Solve x": " So $x = 5$",  # is_equiv drops "x =": 5 == 5
        "Add 3 and 4": " $12$",  # 12 != 7
    },
    "B": {
        "Tom has": " 3",
        "A car costs": " 1000",
        "What is 3 + 4": " 7",
        "Halve 1.": " $1/3$",  # is_equiv reads 1/3 as \frac{1}{3} != \frac{1}{2}
        "Solve x": " $4$",
        "Add 3 and 4": " $7$",
    },
}
# Loglikelihood of each option letter per MMLU-Pro question (unlisted letters get -9).
LETTER_LL = {
    "A": {"Which is prime": "C", "Which is even": "A", "Pick the last": "J"},  # right, wrong, right
    "B": {"Which is prime": "A", "Which is even": "A", "Pick the last": "A"},  # wrong, wrong, wrong
}
# HellaSwag loglikelihoods per ending: "aa" -3 (-1.5 per char), "bbbbbbbb" -4 (-0.5 per char), others -9.
# acc picks "aa" (index 0), acc_norm picks "bbbbbbbb" (index 1): labels 1, 0, 1 give acc_norm 2/3, acc 1/3.
ENDING_LL = {"aa": -3.0, "bbbbbbbb": -4.0}


def _scripted_lm(label: str, prompts: list[str]):
    from lm_eval.api.model import LM

    class Scripted(LM):
        def generate_until(self, requests):
            out = []
            for r in requests:
                context = r.args[0]
                prompts.append(context)
                hits = [a for key, a in ANSWERS[label].items() if key in context.rsplit("Question:", 1)[-1]]
                hits = hits or [a for key, a in ANSWERS[label].items() if key in context.rsplit("Problem:", 1)[-1]]
                assert len(hits) == 1, context
                out.append(hits[0])
            return out

        def loglikelihood(self, requests):
            out = []
            for r in requests:
                context, continuation = r.args
                prompts.append(context)
                if "Options:" in context:
                    question = context.rsplit("Question:\n", 1)[1]
                    best = [letter for key, letter in LETTER_LL[label].items() if question.startswith(key)]
                    out.append((-1.0 if continuation == f" {best[0]}" else -9.0, False))
                else:
                    out.append((ENDING_LL.get(continuation.strip(), -9.0), False))
            return out

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

    return Scripted()


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "benchmarks"
    _write(d / "gsm8k" / "test.jsonl", GSM8K_ROWS)
    _write(d / "math" / "test.jsonl", MATH_ROWS)
    _write(d / "mmlu_pro" / "test.jsonl", MMLU_ROWS)
    _write(d / "hellaswag" / "validation.jsonl", HELLASWAG_ROWS)
    return d


def test_lm_eval_scores_on_scripted_answers(tiny_model_dir, data_dir, tmp_path):
    prompts: list[str] = []
    made = iter("AB")
    report = run_forgetting(
        [str(tiny_model_dir), str(tiny_model_dir)],
        ["gsm8k", "math", "mmlu_pro", "hellaswag"],
        None,
        data_dir,
        tmp_path / "out",
        lm_factory=lambda model, tokenizer: _scripted_lm(next(made), prompts),
    )
    b = report["benchmarks"]
    expected = {  # (A's k, B's k) out of 3
        "gsm8k": (2, 3),
        "math": (2, 1),
        "mmlu_pro": (2, 0),
        "hellaswag": (2, 2),
    }
    for name, (ka, kb) in expected.items():
        a, bb = b[name]["scores"]["A"], b[name]["scores"]["B"]
        assert (a["k"], a["n"], bb["k"], bb["n"]) == (ka, 3, kb, 3), name
        # Our per-item scores agree with lm-eval's own aggregate.
        assert a["lm_eval"] == pytest.approx(ka / 3) and bb["lm_eval"] == pytest.approx(kb / 3)
        d = b[name]["diffs"]["B"]
        assert d["diff"] == pytest.approx((kb - ka) / 3) and d["n_paired"] == 3
        assert d["ci_low"] <= d["diff"] <= d["ci_high"]
        assert 0 <= a["ci_low"] <= ka / 3 <= a["ci_high"] <= 1
    assert b["hellaswag"]["metric"] == "acc_norm,none" and b["gsm8k"]["metric"] == "exact_match,flexible-extract"

    # Provenance: the exact file, its sha256 and row count; 0-shot without a few-shot file.
    src = b["mmlu_pro"]["source"]
    path = data_dir / "mmlu_pro" / "test.jsonl"
    assert src["path"] == str(path.resolve()) and src["rows"] == 3
    assert src["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and src["num_fewshot"] == 0
    md = (tmp_path / "out" / "forgetting.md").read_text()
    assert src["sha256"][:12] in md and "66.7% [" in md and "-66.7 pts" in md
    assert json.loads((tmp_path / "out" / "forgetting.json").read_text())["benchmarks"]["math"]["scores"]["B"]["k"] == 1

    # The MMLU-Pro prompt: lm-eval's question/options layout, letters as choices.
    assert (
        "The following are multiple choice questions (with answers) about math.\n\n"
        "Question:\nWhich is even?\nOptions:\nA. 3\nB. 2\nC. 5\nAnswer:"
    ) in prompts
    assert "Question: Tom has 2 apples and buys 1. How many?\nAnswer:" in prompts  # lm-eval's gsm8k prompt
    records = read_jsonl(tmp_path / "out" / "samples" / "B" / "gsm8k.jsonl")
    assert [r["score"] for r in records] == [1, 1, 1]


def test_cli_on_tiny_model_matches_hand_computed_choices(tiny_model_dir, tiny_lm, tmp_path):
    """The real HFLM path on the tiny model: fixtures whose labels are set from loglikelihoods computed
    here, so the expected accuracies are known exactly (2/3 on each multiple-choice benchmark)."""
    model, tokenizer = tiny_lm
    d = tmp_path / "benchmarks"
    endings = ["the cat sat", "a dog ran to the door", "it is 3", "of 1 and 2 in a"]
    hs_rows, mc_rows = [], []
    for i, (ctx_a, ctx_b) in enumerate([("A man cuts", "the bread"), ("The cook", "adds 2"), ("She is", "in a")]):
        context = f"Cooking: {ctx_a} {ctx_b[0].upper() + ctx_b[1:]}"
        lls = choice_logliks(model, tokenizer, context, [f" {e}" for e in endings])
        norm = [ll / len(e) for ll, e in zip(lls, endings, strict=True)]
        best = max(range(4), key=norm.__getitem__)
        assert sorted(norm)[-1] - sorted(norm)[-2] > 1e-3  # no near-tie to flip on rounding
        hs_rows.append(_hellaswag(i, ctx_a, ctx_b, endings, best if i < 2 else (best + 1) % 4))
    for i, (question, options) in enumerate(
        [("1 + 2", ["3", "4", "5"]), ("the a", ["0", "1"]), ("( )", list("0123456789"))]
    ):
        context = (
            "The following are multiple choice questions (with answers) about math.\n\n"
            f"Question:\n{question}\nOptions:\n"
            + "".join(f"{'ABCDEFGHIJ'[k]}. {o}\n" for k, o in enumerate(options))
            + "Answer:"
        )
        lls = choice_logliks(model, tokenizer, context, [f" {'ABCDEFGHIJ'[k]}" for k in range(len(options))])
        best = max(range(len(options)), key=lls.__getitem__)
        assert sorted(lls)[-1] - sorted(lls)[-2] > 1e-3
        mc_rows.append(_mmlu_pro(i, question, options, best if i != 1 else (best + 1) % len(options)))
    _write(d / "hellaswag" / "validation.jsonl", hs_rows)
    _write(d / "mmlu_pro" / "test.jsonl", mc_rows)
    _write(d / "gsm8k" / "test.jsonl", GSM8K_ROWS[:2])
    _write(d / "math" / "test.jsonl", MATH_ROWS[:2])
    out = tmp_path / "out"
    args = ["forgetting", "--model", str(tiny_model_dir), "--model", str(tiny_model_dir), "--benchmarks",
            "gsm8k,math,mmlu_pro,hellaswag", "--limit", "3", "--set", f"forgetting.data_dir={d}", "--out", str(out),
            "--set", "forgetting.max_gen_toks=4"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Forgetting" in result.output and "hellaswag" in result.output
    report = json.loads((out / "forgetting.json").read_text())
    for name in ("hellaswag", "mmlu_pro"):
        for label in "AB":
            s = report["benchmarks"][name]["scores"][label]
            assert (s["k"], s["n"]) == (2, 3), (name, label)
        assert report["benchmarks"][name]["diffs"]["B"]["diff"] == 0  # the same weights twice
    for name in ("gsm8k", "math"):  # generation runs end to end; per-item scores add up to lm-eval's value
        s = report["benchmarks"][name]["scores"]["A"]
        assert s["n"] == 2 and s["k"] / 2 == pytest.approx(s["lm_eval"])
        assert len(read_jsonl(out / "samples" / "A" / f"{name}.jsonl")) == 2


def test_missing_benchmark_is_skipped_and_bad_rows_name_the_line(tiny_model_dir, data_dir, tmp_path):
    (data_dir / "math" / "test.jsonl").unlink()
    report = run_forgetting(
        [str(tiny_model_dir)],
        ["math", "hellaswag"],
        2,
        data_dir,
        tmp_path / "out",
        lm_factory=lambda model, tokenizer: _scripted_lm("A", []),
    )
    assert list(report["benchmarks"]) == ["hellaswag"]
    assert "no data" in report["skipped"]["math"] and "math/test.jsonl" in report["skipped"]["math"]
    assert report["benchmarks"]["hellaswag"]["scores"]["A"]["n"] == 2
    assert "skipped" in (tmp_path / "out" / "forgetting.md").read_text()

    bad = dict(GSM8K_ROWS[0])
    del bad["answer"]
    _write(data_dir / "gsm8k" / "test.jsonl", [GSM8K_ROWS[0], bad])
    with pytest.raises(ReflectrlError, match=r"gsm8k/test.jsonl:2: missing key 'answer'"):
        run_forgetting([str(tiny_model_dir)], ["gsm8k"], None, data_dir, tmp_path / "o2")
    _write(data_dir / "gsm8k" / "test.jsonl", [{"question": "q", "answer": "no final answer"}])
    with pytest.raises(ReflectrlError, match=r"test.jsonl:1: key 'answer' has no '#### <number>'"):
        run_forgetting([str(tiny_model_dir)], ["gsm8k"], None, data_dir, tmp_path / "o3")
    _write(data_dir / "mmlu_pro" / "test.jsonl", [_mmlu_pro(0, "q", ["a", "b"], 2)])
    with pytest.raises(ReflectrlError, match=r"test.jsonl:1: key 'answer_index' must be an int in \[0, 2\)"):
        run_forgetting([str(tiny_model_dir)], ["mmlu_pro"], None, data_dir, tmp_path / "o4")


def test_nothing_to_run_is_a_one_line_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from reflectrl.cli import main; main()", "forgetting", "--model", "default",
         "--benchmarks", "gsm8k,hellaswag", "--set", f"forgetting.data_dir={tmp_path / 'empty'}", "--out",
         str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no benchmark had data (no data: expected ") and "hellaswag/validation.jsonl" in last
    assert (tmp_path / "o" / "forgetting.md").is_file()  # the report still says what was skipped


def test_online_uses_lm_eval_standard_tasks_and_fails_clearly_offline(tmp_path):
    names = online_task_names(["gsm8k", "math", "mmlu_pro", "hellaswag"])
    assert names == ["gsm8k", "hendrycks_math", "mmlu_pro", "hellaswag"]
    # Each name is a task or group that lm-eval ships, and the hub dataset we check before loading a
    # model is the one its YAML reads.
    tasks = lm_eval_tasks_dir()
    yaml_of = {
        "gsm8k": "gsm8k/gsm8k.yaml",
        "math": "hendrycks_math/hendrycks_math_algebra.yaml",
        "mmlu_pro": "mmlu_pro/_default_template_yaml",
        "hellaswag": "hellaswag/hellaswag.yaml",
    }
    for bench, rel in yaml_of.items():
        text = (tasks / rel).read_text()
        assert f"dataset_path: {BENCHMARKS[bench].online_dataset}" in text
    groups = {
        "hendrycks_math": "hendrycks_math/hendrycks_math.yaml",
        "mmlu_pro": "mmlu_pro/_mmlu_pro.yaml",
    }
    for group, rel in groups.items():
        assert yaml.safe_load((tasks / rel).read_text().replace("!function", ""))["group"] == group
    for task in ("gsm8k", "hellaswag"):
        assert f"task: {task}\n" in (tasks / yaml_of[task]).read_text()

    proc = subprocess.run(
        [sys.executable, "-c", "from reflectrl.cli import main; main()", "forgetting", "--model", "default",
         "--benchmarks", "gsm8k,math", "--set", "forgetting.online=true", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: gsm8k (forgetting.online): the hub dataset openai/gsm8k is not reachable (")
    assert "set forgetting.online=false" in lines[0]


TINY_TASK = '''
from reflectrl.tasks import Task, Verdict, register_task


@register_task
class Oracle(Task):
    """Succeeds on a fixed set of items whatever the model says: the score is known in advance."""

    name = "oracle"

    def load(self, split):
        return [{"id": f"p{i}", "q": str(i)} for i in range(10 if split == "test" else 2)]

    def messages(self, example):
        return [{"role": "user", "content": "Say " + example["q"]}]

    def verify(self, example, completion):
        return Verdict.ok() if example["id"] in {"p0", "p3", "p7"} else Verdict.fail("not_in_set")
'''


def test_cross_task_first_try(tiny_model_dir, tmp_path):
    task_file = tmp_path / "oracle_task.py"
    task_file.write_text(TINY_TASK)
    out = tmp_path / "out"
    args = ["forgetting", "-m", str(tiny_model_dir), "-m", str(tiny_model_dir), "--benchmarks",
            f"countdown,{task_file}:oracle", "--limit", "5", "--out", str(out), "--set", "forgetting.max_new_tokens=6",
            "--task-opt", "train_size=10", "--set", "forgetting.options.countdown.test_size=6"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "forgetting.json").read_text())
    oracle = report["benchmarks"][f"{task_file}:oracle"]
    assert oracle["scores"]["A"]["k"] == 2 and oracle["scores"]["A"]["n"] == 5  # p0 and p3 among p0..p4
    assert oracle["source"]["kind"] == "task" and oracle["source"]["rows"] == 10
    countdown = report["benchmarks"]["countdown"]
    assert countdown["source"]["options"]["test_size"] == 6 and countdown["scores"]["B"]["n"] == 5
    assert countdown["source"]["options"]["train_size"] == 10  # --task-opt: the config task's options
    # A random tiny model never writes a valid <answer>; the verifier's reasons are recorded per item.
    records = read_jsonl(out / "samples" / "A" / "countdown.jsonl")
    assert len(records) == 5 and all(r["score"] == 0 and r["reason"] != "ok" for r in records)
    assert countdown["scores"]["A"]["k"] == 0 and countdown["diffs"]["B"]["diff"] == 0
    # Greedy decoding: both runs of the same weights give identical answers.
    assert [r["response"] for r in records] == [
        r["response"] for r in read_jsonl(out / "samples" / "B" / "countdown.jsonl")
    ]


def test_fewshot_comes_from_the_fewshot_file_and_unknown_names_fail(tiny_model_dir, data_dir, tmp_path):
    train = [_gsm8k(f"Train question {i}?", f"Work {i}.", str(i)) for i in range(6)]
    _write(data_dir / "gsm8k" / "train.jsonl", train)
    prompts: list[str] = []
    report = run_forgetting(
        [str(tiny_model_dir)],
        ["gsm8k"],
        1,
        data_dir,
        tmp_path / "out",
        lm_factory=lambda model, tokenizer: _scripted_lm("A", prompts),
    )
    source = report["benchmarks"]["gsm8k"]["source"]
    assert source["num_fewshot"] == 5 and source["fewshot_file"] == str((data_dir / "gsm8k" / "train.jsonl").resolve())
    assert len(prompts) == 1 and prompts[0].count("Question:") == 6  # 5 examples from train.jsonl + the item
    assert prompts[0].count("Train question") == 5 and prompts[0].count("#### ") == 5
    assert report["benchmarks"]["gsm8k"]["scores"]["A"]["k"] == 1  # A answers the first item right
    with pytest.raises(ReflectrlError, match=r"unknown benchmark 'gsm8'; general: gsm8k, math"):
        run_forgetting([str(tiny_model_dir)], ["gsm8"], 1, data_dir, tmp_path / "o2")
    (data_dir / "gsm8k" / "train.jsonl").unlink()
    with pytest.raises(ReflectrlError, match=r"gsm8k: forgetting.num_fewshot=3 needs few-shot examples in .*train"):
        run_forgetting([str(tiny_model_dir)], ["gsm8k"], 1, data_dir, tmp_path / "o3", num_fewshot=3)


@pytest.mark.parametrize(
    ("dtype", "device", "cuda", "scored_in"),
    [
        ("auto", "auto", False, "fp32"),  # a CPU machine: bf16 sums would tie close options
        ("auto", "cpu", True, "fp32"),
        ("auto", "auto", True, "auto"),  # a GPU keeps the model's fast dtype
        ("auto", "cuda", True, "auto"),
        ("bf16", "cpu", False, "bf16"),  # an explicit choice is kept
    ],
)
def test_forgetting_scores_in_fp32_on_a_cpu_unless_told_otherwise(monkeypatch, dtype, device, cuda, scored_in):

    from reflectrl.forgetting import scoring_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert scoring_dtype(dtype, device) == scored_in
