"""report.html's episode browser in a real browser (Debian's headless Chromium): it renders, its filters
change what is shown, and hostile model output stays text."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reflectrl.evaluate import summarize
from reflectrl.report import write_report
from reflectrl.viewer import script_json

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# CI (.ci/run installs Chromium) always runs the browser test; elsewhere it is skipped without a browser.
needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no Chromium: install Debian's `chromium` package (apt-get install chromium) to run the browser test",
)
HOSTILE = "<script>document.title='pwned'</script></script><img src=x onerror=\"document.title='pwned'\">"


def _eval(folder: Path, second: list[bool], leak: list[bool]) -> None:
    """Problems that all fail first; second try as given; hostile text in every model-written field."""
    folder.mkdir(parents=True)
    records = []
    for i, (ok, leaked) in enumerate(zip(second, leak, strict=True)):
        records.append(
            {
                "id": f"p{i}",
                "category": None,
                "prompt": [{"role": "user", "content": f"question {i} {HOSTILE}"}],
                "attempt": f"<answer> {i} </answer> {HOSTILE}",
                "attempt_success": False,
                "attempt_reason": "wrong_numbers" if i % 2 else "no_answer",
                "feedback": f"feedback {i} {HOSTILE}",  # the verifier-feedback variant's turn
                "reflection": f"reflection {i} {HOSTILE}",
                "retry": "retry",
                "retry_success": ok,
                "retry_reason": "ok" if ok else "wrong_value",
                "reflection_measures": {"leak": leaked},
                "first_try": False,
                "second_try": ok,
            }
        )
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = summarize([{k: v for k, v in r.items() if k != "reflection_measures"} for r in records])
    (folder / "summary.json").write_text(json.dumps(summary))


def _render(page: Path, fragment: str = "", tmp: Path | None = None) -> str:
    """The DOM after the page's scripts ran."""
    assert CHROMIUM, "CI must have Chromium (.ci/run installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    out = subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={tmp}", "--dump-dom", page.as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_script_json_cannot_close_its_script_element():
    text = script_json({"a": "</script><script>alert(1)</script>", "b": "x & y <!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": "x & y <!--"}


@needs_browser
def test_viewer_renders_filters_and_keeps_hostile_text_inert(tmp_path):
    # start: problems 0-3 fail the second try, 4-5 pass; trained: 0-1 fixed, 4 broken. Leaks: trained 0 and 2.
    _eval(tmp_path / "eval-start", [False, False, False, False, True, True], [False] * 6)
    _eval(tmp_path / "eval-trained", [True, True, False, False, False, True], [True, False, True, False, False, False])
    write_report(tmp_path)
    page = tmp_path / "report.html"

    def shown(fragment: str = "") -> tuple[int, str]:
        dom = _render(page, fragment, tmp_path / "chromium")
        cards = re.findall(r'<div class="ep"><h4>([^<]*)</h4>', dom)
        assert re.search(r'data-shown="(\d+)"', dom).group(1) == str(len(cards))
        return len(cards), dom

    n, dom = shown()
    assert n == 6 and "6 of 6 problems shown" in dom
    assert "<title>reflectrl report</title>" in dom  # no hostile script ran (it would retitle the page)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # the text is there, as text
    assert not re.search(r"<img [^>]*onerror", dom)
    assert "verifier feedback" in dom and "feedback 3 &lt;script&gt;" in dom
    assert shown("#outcome=fixed")[0] == 2
    assert shown("#outcome=broken")[0] == 1
    assert shown("#outcome=unchanged")[0] == 3
    assert shown("#leak=yes")[0] == 2
    assert shown("#reason=wrong_numbers")[0] == 3
    assert shown("#outcome=fixed&leak=yes")[0] == 1
