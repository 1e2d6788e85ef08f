"""Untrusted model output: every verifier returns a Verdict for every input, fast, and never runs model text."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, read_jsonl
from reflectrl.tasks import Task, Verdict, get_task, register_task
from reflectrl.tasks.countdown import solve
from reflectrl.tasks.guard import VERIFIER_ERRORS

CANARY = Path("/tmp/reflectrl-pwned")

COUNTDOWN_EX = {"id": "cd-x", "nums": [3, 5, 7], "target": 22}  # 3 * 5 + 7
BFCL_EX = {
    "id": "bfcl-x",
    "source": "bfcl",
    "category": "simple_python",
    "messages": [{"role": "user", "content": "Area of a circle of radius 5 in meters?"}],
    "functions": [
        {
            "name": "circle_area",
            "description": "Area of a circle.",
            "parameters": {
                "type": "dict",
                "properties": {"radius": {"type": "integer"}, "unit": {"type": "string"}},
                "required": ["radius"],
            },
        }
    ],
    "answers": [{"circle_area": {"radius": [5], "unit": ["meters", "m", ""]}}],
}
XLAM_EX = {
    "id": "xlam-1",
    "source": "xlam",
    "category": None,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "functions": [{"name": "weather", "description": "", "parameters": {"city": {"type": "str"}}}],
    "answers": [{"name": "weather", "arguments": {"city": "Paris"}}],
}

MB10 = "x" * 10_000_000
DUNDER = [
    "__import__('os').system('touch /tmp/reflectrl-pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: open('/tmp/reflectrl-pwned', 'w'))()",
    "exec('1')",
    "eval('1')",
    "1 if __builtins__ else 2",
    "[x for x in ().__class__.__mro__]",
    "globals()",
]
ADVERSARIAL: list[object] = [
    "",
    " ",
    MB10,
    "<answer>" + MB10 + "</answer>",
    "<answer>" * 1_000_000,
    "</answer>" * 1_000_000,
    "<answer>" + "(" * 100_000 + "3" + ")" * 100_000 + "</answer>",
    "<answer>" + "(" * 130 + "3 * 5 + 7" + ")" * 130 + "</answer>",
    "<answer>" + "(" * 60 + "3 * 5 + 7" + ")" * 60 + "</answer>",
    "<answer> 9**9**9**9**9 </answer>",
    "<answer>" + "**".join(["9"] * 80) + "</answer>",
    "<answer> 3 ** 5 ** 7 </answer>",
    "<answer>" + "*".join(["99"] * 80) + "</answer>",
    "<answer>" + "/".join(["7"] * 120) + "</answer>",
    "<answer>" + "9" * 250 + "</answer>",
    "<answer> 3 * 5 + 7 " + "+ 0 " * 60 + "</answer>",
    "<answer> 1 / (5 - 5) + 3 * 7 </answer>",
    "<answer> 3 * 5 + 7\x00 </answer>",
    "\x00" * 1000,
    "<answer>\x00</answer>",
    "<answer> ３ * ５ + ７ </answer>",  # fullwidth digits
    "<answer> ٣ * ٥ + ٧ </answer>",  # Arabic-Indic digits
    "<answer> 3 × 5 + 7 </answer>",
    "<answer> 3 ∗ 5 ＋ 7 </answer>",
    "<answer> 3 * 5 − 7 </answer>",  # U+2212 minus
    "<answer> 3 * 5 ➕ 7 </answer>",
    "<answer> 𝟑 * 𝟓 + 𝟕 </answer>",  # mathematical bold digits
    "<answer> 3_0 * 5 + 7 </answer>",
    "<answer> 0x3 * 5 + 7 </answer>",
    "<answer> 3.0 * 5 + 7 </answer>",
    "<answer> 3e0 * 5 + 7 </answer>",
    "<answer> 3j * 5 + 7 </answer>",
    "<answer> -3 * -5 + 7 </answer>",
    "<answer> 3 // 5 + 7 </answer>",
    "<answer> 3 @ 5 + 7 </answer>",
    *[f"<answer> {d} </answer>" for d in DUNDER],
    *DUNDER,
    "[" * 100_000,
    "{" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    "[" * 30 + "]" * 30,
    "[" * 40 + "]" * 40,
    '[{"name": "circle_area", "arguments": {"radius": 1e999999}}]',
    '[{"name": "circle_area", "arguments": {"radius": -1e999999}}]',
    '[{"name": "circle_area", "arguments": {"radius": NaN}}]',
    '[{"name": "circle_area", "arguments": {"radius": Infinity}}]',
    '[{"name": "circle_area", "arguments": {"radius": ' + "9" * 15_000 + "}}]",
    '[{"name": "circle_area", "arguments": {"radius": ' + "9" * 100_000 + "}}]",
    '[{"name": "weather", "arguments": {"city": 1e999999}}]',
    '[{"name": "weather", "arguments": {"city": ' + "9" * 19_000 + "}}]",
    "\ud800",
    "<answer>\ud800</answer>",
    '[{"name": "\\ud800", "arguments": {}}]',
    '[{"name": "circle_area", "arguments": {"\\ud800": 1, "radius": 5}}]',
    '[{"name": "weather", "arguments": {"\\udfff\\ud800": "Paris"}}]',
    '[{"name": "circle_area", "arguments": {"radius": "\\ud800"}}]',
    '[{"name": "circle_area", "arguments": {"' + "k" * 15_000 + '": 5}}]',
    '"' + "\\" * 19_999,
    '"a' * 9_999,
    "<tool_call>" * 1_800,
    "```" * 6_000,
    "```json\n" * 2_000,
    '[{"name": "circle_area", "arguments": "{\\"radius\\": 5}"}]',
    '[{"name": "circle_area", "arguments": "' + "[" * 5_000 + '"}]',
    '[{"type": "function", "function": {"name": "circle_area", "arguments": {"radius": 5}}}]',
    "[" + ",".join(['{"name": "weather", "arguments": {"city": "Paris"}}'] * 300) + "]",
    "[]",
    "null",
    "true",
    '{"name": null}',
    None,
    123,
    12.5,
    float("nan"),
    b"<answer> 3 * 5 + 7 </answer>",
    bytearray(b"[]"),
    ["<answer> 3 * 5 + 7 </answer>"],
    {"name": "weather", "arguments": {"city": "Paris"}},
    object(),
    type("Evil", (str,), {"__len__": lambda self: 1 / 0})("<answer> 3 * 5 + 7 </answer>"),
]

EXPECTED_SUCCESSES = {
    "countdown": [
        ADVERSARIAL.index("<answer>" + "(" * 60 + "3 * 5 + 7" + ")" * 60 + "</answer>"),
        len(ADVERSARIAL) - 1,
    ],
    "bfcl": [
        ADVERSARIAL.index('[{"name": "circle_area", "arguments": "{\\"radius\\": 5}"}]'),
        ADVERSARIAL.index('[{"type": "function", "function": {"name": "circle_area", "arguments": {"radius": 5}}}]'),
    ],
    "xlam": [],
}


def _verifiers():
    countdown = get_task("countdown", train_size=1, test_size=1)
    fc = get_task("function_calling")
    return [("countdown", countdown, COUNTDOWN_EX), ("bfcl", fc, BFCL_EX), ("xlam", fc, XLAM_EX)]


@pytest.mark.parametrize("name,task,example", _verifiers(), ids=["countdown", "bfcl", "xlam"])
def test_adversarial_corpus_gets_a_verdict_in_under_50ms(name, task, example, tmp_path):
    CANARY.unlink(missing_ok=True)
    verdicts = []
    for i, completion in enumerate(ADVERSARIAL):
        started = time.perf_counter()
        verdict = task.verify(example, completion)
        elapsed = time.perf_counter() - started
        assert isinstance(verdict, Verdict), (i, verdict)
        assert isinstance(verdict.reason, str) and verdict.reason, (i, verdict)
        assert elapsed < 0.05, f"{name}: input {i} took {1000 * elapsed:.1f} ms"
        verdicts.append(verdict)
    # A reason must always be writable to (and read back from) the crash-safe JSONL files.
    with JsonlWriter(tmp_path / "v.jsonl") as w:
        w.write_many({"i": i, "reason": v.reason} for i, v in enumerate(verdicts))
    assert not CANARY.exists(), "model text was executed"
    assert len(read_jsonl(tmp_path / "v.jsonl")) == len(ADVERSARIAL)
    # Only genuinely right answers pass: redundant parentheses, a str subclass, OpenAI-style call shapes.
    successes = sorted(i for i, v in enumerate(verdicts) if v.success)
    assert successes == EXPECTED_SUCCESSES[name], [repr(ADVERSARIAL[i])[:80] for i in successes]
    assert any(v.reason == "too_long" for v in verdicts) and any(v.reason == "not_text" for v in verdicts)


def test_the_corpus_is_not_rejected_wholesale():
    """The same verifiers accept the right answers (so the corpus' failures are real rejections)."""
    countdown, fc = get_task("countdown", train_size=1, test_size=1), get_task("function_calling")
    assert solve([3, 5, 7], 22) is not None
    assert countdown.verify(COUNTDOWN_EX, "<answer> 3 * 5 + 7 </answer>").success
    assert countdown.verify(COUNTDOWN_EX, "<answer> (((3 * 5 + 7))) </answer>").success
    assert fc.verify(BFCL_EX, '[{"name": "circle_area", "arguments": {"radius": 5, "unit": "m"}}]').success
    assert fc.verify(XLAM_EX, '<tool_call>{"name": "weather", "arguments": {"city": "Paris"}}</tool_call>').success


def test_surrogates_round_trip_through_jsonl(tmp_path):
    record = {"reason": "unexpected_arg:\ud800", "attempt": "a\udfffb \\ud800 ok"}
    with JsonlWriter(tmp_path / "s.jsonl") as w:
        w.write(record)
        w.write({"next": 1})
    assert read_jsonl(tmp_path / "s.jsonl") == [record, {"next": 1}]


# ---------------------------------------------------------------------------------------------
# User-registered verifiers: the shared guard with a worker process and a time budget.


class _UserTask(Task):
    verify_timeout = 0.3

    def load(self, split):
        return [{"id": "u1", "n": 4}]

    def messages(self, example):
        return [{"role": "user", "content": "say 4"}]


@register_task
class _Hangs(_UserTask):
    name = "_test_hangs"

    def verify(self, example, completion):
        if completion == "loop":
            while True:
                pass
        if completion == "pow":
            return Verdict(10 ** (10**9) > 0, "ok")  # C code: SIGALRM could not interrupt it
        if completion == "swallow":
            try:
                while True:
                    time.sleep(0.01)
            except Exception:
                return Verdict.ok()
        if completion == "exit":
            os._exit(3)
        if completion == "raise":
            return 1 / 0
        if completion == "none":
            return None
        if completion == "bad_reason":
            return Verdict(False, "")
        if completion == "surrogate":
            return Verdict(False, "wrong:\ud800" + "x" * 1000)
        if completion == "pwd":
            return Verdict(True, str(os.getpid()))
        return Verdict(completion.strip() == str(example["n"]), "checked")


def test_user_verifier_is_bounded_in_time_and_never_raises():
    task = get_task("_test_hangs")
    ex = task.load("test")[0]
    assert task.verify(ex, "4") == Verdict(True, "checked")
    assert task.verify(ex, "5") == Verdict(False, "checked")
    timeouts = VERIFIER_ERRORS[("_test_hangs", "timeout")]
    for completion in ("loop", "pow", "swallow"):
        started = time.perf_counter()
        assert task.verify(ex, completion) == Verdict.fail("timeout"), completion
        assert time.perf_counter() - started < 2.0
        assert task.verify(ex, "4").success  # a fresh worker took over
    assert VERIFIER_ERRORS[("_test_hangs", "timeout")] == timeouts + 3  # counted and warned, not silent
    assert task.verify(ex, "exit") == Verdict.fail("verifier_error:worker_died")
    assert task.verify(ex, "raise") == Verdict.fail("verifier_error:ZeroDivisionError")
    assert task.verify(ex, "none") == Verdict.fail("verifier_error:returned_NoneType")
    assert task.verify(ex, "bad_reason") == Verdict.fail("verifier_error:empty_reason")
    surrogate = task.verify(ex, "surrogate")
    assert not surrogate.success and surrogate.reason.startswith("wrong:?") and len(surrogate.reason) == 200
    assert task.verify(ex, None) == Verdict.fail("not_text")
    assert task.verify(ex, "4" * 1_000_001) == Verdict.fail("too_long")
    # The verifier runs in another process; the built-ins stay direct calls in this one.
    assert task.verify(ex, "pwd").reason != str(os.getpid())
    started = time.perf_counter()
    for _ in range(200):
        task.verify(ex, "4")
    assert (time.perf_counter() - started) / 200 < 0.01  # the worker is reused, not forked per call


@register_task
class _Parses(_UserTask):
    name = "_test_parses"

    def verify(self, example, completion):
        return Verdict(completion == "4", "checked")

    def answer_key(self, example, completion):  # a user's parser that assumes a digit is there
        digits = int(re.search(r"\d+", completion).group())
        return digits if completion.startswith("int") else str(digits)

    def answer_verifies(self, example, text):  # the same assumption; "say ..." returns words, not a bool
        digits = re.search(r"\d+", text).group()
        return "yes" if text.startswith("say") else digits == "4"


def test_a_user_answer_parser_that_raises_or_returns_a_non_str_counts_as_no_answer(capsys):
    """answer_key / answer_in / answer_verifies read every reflection and vote: a bug in them costs that text its
    answer, once warned, not the run."""
    from reflectrl.rollout.episode import answer_key

    task = get_task("_test_parses")
    ex = task.load("test")[0]
    assert task.answer_key(ex, "x 4") == "4" and task.answer_in(ex, "x 4") == "4"
    for _ in range(3):
        assert task.answer_in(ex, "no digits here") is None and answer_key(task, ex, "no digits") is None
    assert task.answer_key(ex, "int 4") is None
    assert task.answer_verifies(ex, "x 4") is True and task.answer_verifies(ex, "x 5") is False
    assert task.answer_verifies(ex, "no digits") is False and task.answer_verifies(ex, "say 4") is False
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("answer_key() of task '_test_parses' failed (AttributeError") == 1
    assert "failed (it returned a int, not a str or None)" in err
    assert "answer_verifies() of task '_test_parses' failed (AttributeError" in err
    assert "answer_verifies() of task '_test_parses' failed (it returned a str, not a bool)" in err


@register_task
class _SlowHooks(_UserTask):
    name = "_test_slow_hooks"

    def verify(self, example, completion):
        return Verdict(completion == "4", "checked")

    def answer_key(self, example, completion):  # catastrophic backtracking on "aaa...c": hours, not seconds
        return "b" if re.fullmatch(r"(a+)+b", completion) else completion.strip() or None

    def feedback(self, example, completion):
        if completion == "none":
            return None
        if completion == "raise":
            raise ValueError("cannot parse")
        return f"you wrote {self.answer_key(example, completion)}"  # a nested hook: bounded by this call


@pytest.mark.parametrize("fork", [True, False], ids=["worker", "no-fork"])
def test_user_answer_and_feedback_hooks_are_bounded_in_time(fork, monkeypatch, capsys):
    """answer_key / answer_in / feedback read model text like the verifier: a parsing regex that backtracks
    forever costs that text its answer (feedback: the verifier's reason instead), not the eval. Both branches:
    the worker process, and SIGALRM where there is no fork."""
    import multiprocessing

    import reflectrl.tasks.guard as guard

    if not fork:
        monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(guard, "_HOOK_FAILURES", set())  # warned once per process: reset for this test
    task = get_task("_test_slow_hooks")
    ex, hang = task.load("test")[0], "a" * 40 + "c"
    assert task.answer_key(ex, " 4 ") == "4" and task.answer_in(ex, "4") == "4" and task.answer_key(ex, " ") is None
    assert task.feedback(ex, "4") == "you wrote 4"
    for call in (task.answer_key, task.answer_in, task.feedback):
        started = time.perf_counter()
        value = call(ex, hang)
        assert time.perf_counter() - started < 2.0, call.__name__
        assert value == (task.verify(ex, hang) and "The verifier says: checked." if call == task.feedback else None)
    assert task.feedback(ex, "none") == task.feedback(ex, "raise") == "The verifier says: checked."
    assert task.answer_key(ex, "4") == "4"  # a fresh worker (or the same process) goes on serving
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("answer_key() of task '_test_slow_hooks' failed (it ran longer than verify_timeout=0.3 s)") == 1
    assert "feedback() of task '_test_slow_hooks' failed (it returned a NoneType, not a str)" in err
    assert "failed (ValueError: cannot parse); the verifier's reason is given instead" in err
    assert ("_reflectrl_worker" in task.__dict__) == fork
    monkeypatch.setattr(type(task), "verify_timeout", None)  # no bound: a direct call, still guarded
    assert task.feedback(ex, "raise") == "The verifier says: checked." and task.answer_key(ex, "4") == "4"


@register_task
class _Allocates(_UserTask):
    name = "_test_allocates"
    verify_timeout = 60.0  # a loaded machine must not turn this test's allocations into timeouts
    verify_memory_mb = 256

    def verify(self, example, completion):  # model text that makes the verifier allocate that many MiB
        return Verdict(len(bytearray(int(completion) * 2**20)) > 0, "allocated")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the memory cap reads Linux's /proc")
def test_user_verifier_is_bounded_in_memory():
    """4 GiB of zeros would be granted lazily and fill RAM as touched; beyond verify_memory_mb it is refused."""
    task = get_task("_test_allocates")
    ex = task.load("test")[0]
    assert task.verify(ex, "32") == Verdict(True, "allocated")  # ordinary work is not starved
    assert task.verify(ex, "4096") == Verdict.fail("verifier_error:MemoryError")
    assert task.verify(ex, "32").success  # the same worker goes on serving


def test_without_proc_the_memory_cap_is_skipped_and_time_stays_bounded(monkeypatch):
    """macOS has no /proc/self/status (and Windows no `resource`): the worker starts uncapped instead of failing."""
    import resource

    import reflectrl.tasks.guard as guard

    class NoProc(type(Path())):
        def read_text(self, *args, **kwargs):
            raise FileNotFoundError(2, "No such file or directory")

    before = resource.getrlimit(resource.RLIMIT_DATA)
    monkeypatch.setattr(guard, "Path", NoProc)
    guard._limit_memory(64)  # in this process: it must not cap the test runner
    guard._limit_memory(None)
    assert resource.getrlimit(resource.RLIMIT_DATA) == before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from Linux's /proc")
def test_a_killed_process_leaves_no_verifier_worker_behind():
    """SIGKILL skips the daemon cleanup: the worker must notice its parent is gone (EOF) and exit."""
    import signal
    import subprocess
    import sys

    script = (
        "import os, sys, time\n"
        "from reflectrl.tasks import Task, Verdict, register_task\n"
        "@register_task\n"
        "class Pid(Task):\n"
        "    name = '_test_pid'\n"
        "    def load(self, split): return [{'id': 'a'}]\n"
        "    def messages(self, example): return [{'role': 'user', 'content': 'q'}]\n"
        "    def verify(self, example, completion): return Verdict(True, str(os.getpid()))\n"
        "task = Pid(Pid.Options())  # kept alive: its worker lives while the task does\n"
        "print(task.verify({'id': 'a'}, 'x').reason, flush=True)\n"
        "time.sleep(60)\n"
    )

    def running(pid: int) -> bool:  # an exited worker nobody reaped yet is a zombie ("Z"): not running
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert worker != proc.pid and running(worker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running(worker):
        time.sleep(0.05)
    assert not running(worker), "the verifier worker outlived its killed parent"


def test_builtin_verifiers_are_direct_calls():
    countdown = get_task("countdown", train_size=1, test_size=1)
    assert countdown.verify.__reflectrl_guarded__
    assert type(countdown).verify is type(countdown).verify  # wrapped once, at registration
    countdown.verify(COUNTDOWN_EX, "<answer> 3 * 5 + 7 </answer>")
    assert "_reflectrl_worker" not in countdown.__dict__


def test_wrong_verifier_signature_is_an_error_at_registration():
    with pytest.raises(ReflectrlError) as e:

        @register_task
        class _Bad(_UserTask):
            name = "_test_bad_signature"

            def verify(self, completion):
                return Verdict.ok()

    assert str(e.value) == (
        "task _Bad: verify(self, completion) has the wrong signature; expected verify(self, example, completion)"
    )


def test_no_task_code_calls_eval_exec_or_compile():
    import ast

    import reflectrl.tasks as pkg

    banned = {"eval", "exec", "compile", "__import__", "system", "popen"}
    for path in Path(pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in banned, (path.name, node.lineno)


def test_reason_codes_are_json_safe():
    fc = get_task("function_calling")
    v = fc.verify(BFCL_EX, '[{"name": "circle_area", "arguments": {"\\ud800": 1, "radius": 5}}]')
    assert not v.success
    json.dumps(v.reason).encode("utf-8")


def test_without_fork_sigalrm_bounds_python_loops(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    task = get_task("_test_hangs")
    ex = task.load("test")[0]
    started = time.perf_counter()
    assert task.verify(ex, "loop") == Verdict.fail("timeout")
    assert time.perf_counter() - started < 2.0
    assert task.verify(ex, "pwd").reason == str(os.getpid())  # in this process
    assert task.verify(ex, "4") == Verdict(True, "checked")
