"""The run report: the paper's four-column table with CIs, paired differences, training curves,
and reflections before/after training side by side. Written as report.md, report.html and PNGs."""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from reflectrl import reflections, viewer
from reflectrl.console import warn
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json, atomic_write_text, read_jsonl
from reflectrl.stats import Rate, paired_diff_ci

STAGES = (("eval-shipped", "shipped"), ("eval-start", "start"), ("eval-trained", "trained"))


def save_figure(fig, path: Path) -> None:
    """Write a PNG so that a killed report leaves the previous plot, never half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def collect(run: Path) -> dict[str, Any]:
    evals = {}
    for folder, label in STAGES:
        summary = _load_json(run / folder / "summary.json")
        if summary:
            evals[label] = {"summary": summary, "samples": read_jsonl(run / folder / "samples.jsonl")}
    if "start" not in evals:
        raise ReflectrlError(f"{run}: no evaluation found (eval-start/summary.json); is this a run directory?")
    _measure_reflections(run, evals)
    return {
        "evals": evals,
        "metrics": read_jsonl(run / "train" / "metrics.jsonl"),
        "mine": _load_json(run / "mine" / "stats.json"),
        "timings": _load_json(run / "timings.json") or {},
        "config": (run / "config.yaml").read_text() if (run / "config.yaml").is_file() else "",
    }


def _measure_reflections(run: Path, evals: dict[str, Any]) -> None:
    """Evaluations written before reflections were measured get their measures here, from the run's task."""

    def unmeasured(r: dict[str, Any]) -> bool:
        return "reflection" in r and "reflection_measures" not in r

    stale = [e for e in evals.values() if any(unmeasured(r) for r in e["samples"])]
    if not stale or not (run / "config.yaml").is_file():
        return
    from reflectrl.config_file import load_config
    from reflectrl.tasks import get_task

    try:
        cfg = load_config(run / "config.yaml")
        task = get_task(cfg.task.name, **cfg.task.options)
    except Exception as e:  # an old or foreign run folder: the report goes on without the measures
        warn(f"reflection measures skipped: cannot load the run's task from {run / 'config.yaml'} ({e})")
        return
    for e in stale:
        split = e["summary"].get("split", "test")  # dev is a slice of train; all is the train part, then test
        loaded = {"dev": ("train",), "all": ("train", "test")}.get(split, (split,))
        examples = {ex["id"]: ex for name in loaded for ex in task.load(name)}
        for r in e["samples"]:
            if unmeasured(r) and r["id"] in examples:
                args = (r["attempt"], r["reflection"], r["retry"], r.get("reflection_tokens", 0))
                r["reflection_measures"] = reflections.describe(task, examples[r["id"]], *args)
        e["summary"]["reflections"] = reflections.from_records(e["samples"])


def paired(evals: dict[str, Any], key: str) -> tuple[float, float, float, int] | None:
    if "trained" not in evals:
        return None
    a = {r["id"]: r[key] for r in evals["start"]["samples"]}
    b = {r["id"]: r[key] for r in evals["trained"]["samples"]}
    ids = sorted(set(a) & set(b))
    diff, lo, hi = paired_diff_ci([a[i] for i in ids], [b[i] for i in ids])
    return diff, lo, hi, len(ids)


def _series(metrics: list[dict[str, Any]], *names: str) -> tuple[list[int], list[float]]:
    for name in names:
        points = [(m["step"], m[name]) for m in metrics if name in m]
        if points:
            steps, values = zip(*sorted(points), strict=True)
            return list(steps), list(values)
    return [], []


def plots(data: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    metrics = data["metrics"]

    def per_step(name: str, title: str, curves: dict[str, tuple[list[int], list[float]]], share: bool) -> None:
        """One line per curve over training steps, written as plots/<name> when any curve has points."""
        if not any(steps for steps, _ in curves.values()):
            return
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, (steps, values) in curves.items():
            ax.plot(steps, values, marker="o", ms=3, label=label)
        ax.set_xlabel("training step")
        if share:
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.set_ylabel("tokens")
        if len(curves) > 1:
            ax.legend()
        ax.set_title(title)
        fig.tight_layout()
        save_figure(fig, out / name)
        plt.close(fig)
        written.append(name)

    if metrics:
        reward = {
            "retry success (reward)": _series(metrics, "retry_success", "reward"),
            "groups with zero reward variance": _series(metrics, "frac_reward_zero_std"),
        }
        per_step("training.png", "Training reward per step", reward, share=True)
        length = {"reflection tokens": _series(metrics, "reflection_tokens", "completions/mean_length")}
        per_step("reflection_length.png", "Mean reflection length per step", length, share=False)
        measured = {k.replace("_", " "): _series(metrics, f"reflection/{k}") for k in reflections.STEP_MEASURES}
        title = "What the step's reflections look like (share, or mean for overlap / distinct-2)"
        per_step("reflections.png", title, measured, share=True)

    fig, ax = plt.subplots(figsize=(7, 4))
    columns = ("first_try", "second_try", "resample_pass2")
    labels = [lab for _, lab in STAGES if lab in data["evals"]]
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        summary = data["evals"][label]["summary"]
        rates = [Rate.from_dict(summary[c]) for c in columns if c in summary]
        xs = [j + i * width for j in range(len(rates))]
        ys = [100 * r.value for r in rates]
        # max(0, ...): at 0/n or n/n float rounding can put the interval's end a hair past the rate
        err = [[max(0.0, 100 * (r.value - r.low)) for r in rates], [max(0.0, 100 * (r.high - r.value)) for r in rates]]
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=label)
    ax.set_xticks([j + width * (len(labels) - 1) / 2 for j in range(len(columns))])
    ax.set_xticklabels(["first try", "second try (reflect)", "resample pass@2"])
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.legend()
    ax.set_title("Held-out accuracy before and after training")
    fig.tight_layout()
    save_figure(fig, out / "accuracy.png")
    plt.close(fig)
    written.append("accuracy.png")
    return written


def examples(evals: dict[str, Any], k: int = 5) -> list[dict[str, Any]]:
    """Problems both models failed at first: the starting and trained reflections side by side."""
    if "trained" not in evals:
        return []
    before = {r["id"]: r for r in evals["start"]["samples"] if "reflection" in r}
    after = [r for r in evals["trained"]["samples"] if "reflection" in r and r["id"] in before]
    return [{"before": before[r["id"]], "after": r} for r in after[:k]]


def _fmt_diff(d: tuple[float, float, float, int] | None) -> str:
    if d is None:
        return "n/a"
    diff, lo, hi, n = d
    return f"{100 * diff:+.1f} pts [{100 * lo:+.1f}, {100 * hi:+.1f}] (n={n})"


def write_report(run_dir: str | Path) -> dict[str, Any]:
    run = Path(run_dir)
    data = collect(run)
    evals = data["evals"]
    pics = plots(data, run / "plots")
    labels = [lab for _, lab in STAGES if lab in evals]
    header = ["column", *[f"{lab} model" for lab in labels]]
    rows = []
    for key, name in (
        ("first_try", "first try"),
        ("second_try", "second try (after reflection)"),
        ("resample_pass2", "resample baseline: pass@2 without reflection"),
        ("retry_after_failure", "retry success after a failure"),
        ("resample_after_failure", "fresh sample success after a failure"),
        ("feedback_retry_after_failure", "retry on the verifier's feedback alone (feedback variant)"),
    ):
        if key == "feedback_retry_after_failure" and not any(key in evals[lab]["summary"] for lab in labels):
            continue
        cells = [
            str(Rate.from_dict(evals[lab]["summary"][key])) if key in evals[lab]["summary"] else "n/a" for lab in labels
        ]
        rows.append([name, *cells])
    length = ["mean reflection tokens"]
    for lab in labels:
        v = evals[lab]["summary"].get("mean_reflection_tokens")
        length.append("n/a" if v is None else f"{v:.1f}")
    rows.append(length)
    diffs = {key: paired(evals, key) for key in ("first_try", "second_try")}

    result = {
        "table": {lab: evals[lab]["summary"] for lab in labels},
        "paired_differences": {
            k: v and dict(zip(("diff", "low", "high", "n"), v, strict=True)) for k, v in diffs.items()
        },
        "mine": data["mine"],
        "timings": data["timings"],
    }
    md = [f"# reflectrl run report: `{run}`", ""]
    four = _four_columns(evals)
    if four:
        md += ["## The paper's four columns (held-out, 95% Wilson CIs)", "", *four, ""]
    md += ["## All measurements", "", _md_table(header, rows), ""]
    if pics:
        md += ["## Plots", ""] + [f"![{p}](plots/{p})" for p in pics] + [""]
    by_cat = _by_category(evals, labels)
    if by_cat:
        md += ["## By category: first try / second try (95% Wilson CIs)", "", by_cat, ""]
    measured = _reflection_tables(evals, labels)
    if measured:
        md += [
            "## What the reflections look like (after a failed first try)",
            "",
            "Leak: the reflection holds an answer in the task's format; answer-like: it starts with one instead "
            "of prose; copy overlap: share of its words found in the failed attempt; distinct-2: distinct word "
            "bigrams (low = repetitive). Shares and retry success with 95% Wilson CIs.",
            "",
            *measured,
        ]
    reasons = _failure_reasons(evals, labels)
    if reasons:
        md += ["## Why first attempts fail: the verifier's reason, share of all problems", "", reasons, ""]
    md += [
        "## Trained minus starting model, paired on the same problems (95% bootstrap CI)",
        "",
        f"- first try: {_fmt_diff(diffs['first_try'])}",
        f"- second try: {_fmt_diff(diffs['second_try'])}",
        "",
    ]
    if data["mine"]:
        m = data["mine"]
        md += [
            "## Dataset of failures",
            "",
            f"{m['queries']} queries, {m['attempts']} attempts, failure rate {100 * (m['failure_rate'] or 0):.1f}%, "
            f"{m['failure_pairs']} (query, failed attempt) pairs; queries never solved {m['queries_never_solved']}, "
            f"mixed {m['queries_mixed']}, always solved {m['queries_always_solved']}.",
            "",
        ]
    pairs = examples(evals)
    if pairs:
        md += ["## Reflections before and after training (same problems)", ""]
        for p in pairs:
            b, a = p["before"], p["after"]
            md += [
                f"**{_cell(b['id'])}**: {_cell(b['prompt'][-1]['content'][:160])}",
                "",
                _md_table(
                    ["", "starting model", "trained model"],
                    [
                        ["attempt", _cell(b["attempt"]), _cell(a["attempt"])],
                        ["reflection", _cell(b["reflection"]), _cell(a["reflection"])],
                        ["retry", _cell(b["retry"]), _cell(a["retry"])],
                        ["retry verdict", _cell(b["retry_reason"]), _cell(a["retry_reason"])],
                    ],
                ),
                "",
            ]
    forgetting = run / "forgetting" / "forgetting.md"
    if forgetting.is_file():
        text = forgetting.read_text()
        body = text.split("\n", 1)[1] if text.startswith("#") else text  # drop its own title
        md += ["## Forgetting (starting vs trained model)", "", body.strip(), ""]
    if data["timings"]:
        md += ["## Wall time per stage", ""]
        md += [f"- {k}: {v / 60:.1f} min" for k, v in data["timings"].items()]
        md += [f"- total: {sum(data['timings'].values()) / 60:.1f} min", ""]
    if data["config"]:
        md += ["## Config", "", "```yaml", data["config"].rstrip(), "```", ""]
    text = "\n".join(md)
    atomic_write_text(run / "report.md", text)
    # The browser compares the starting and the trained model (an `eval.shipped` evaluation stays out).
    pair = [lab for lab in ("start", "trained") if lab in evals]
    atomic_write_text(run / "report.html", _html(text, viewer.section(evals, pair)))
    atomic_write_json(run / "report.json", result)
    return result


def _four_columns(evals: dict[str, Any]) -> list[str]:
    cols, cells = [], []
    for lab in ("shipped", "start", "trained"):
        if lab in evals:
            s = evals[lab]["summary"]
            cols += [f"{lab} first try", f"{lab} second try"]
            cells += [str(Rate.from_dict(s["first_try"])), str(Rate.from_dict(s["second_try"]))]
    return [_md_table(cols, [cells])] if cells else []


def _by_category(evals: dict[str, Any], labels: list[str]) -> str:
    """One row per task category (BFCL's simple_python, parallel, ...), when the evaluations have them."""
    cats = sorted({c for lab in labels for c in evals[lab]["summary"].get("by_category", {})})
    rows = []
    for cat in cats:
        row = [cat]
        for lab in labels:
            m = evals[lab]["summary"].get("by_category", {}).get(cat)
            row += [str(Rate.from_dict(m["first_try"])), str(Rate.from_dict(m["second_try"]))] if m else ["n/a", "n/a"]
        rows.append(row)
    header = ["category", *[f"{lab} {turn}" for lab in labels for turn in ("first try", "second try")]]
    return _md_table(header, rows) if rows else ""


def _failure_reasons(evals: dict[str, Any], labels: list[str], top: int = 8) -> str:
    """Counts of the verifier's reason for each failed first attempt (``wrong_value:x`` counts as
    ``wrong_value``): the most common ``top`` reasons, the rest as ``other``."""
    counts = {
        lab: Counter(
            str(r.get("attempt_reason") or "unknown").split(":")[0]
            for r in evals[lab]["samples"]
            if not r["attempt_success"]
        )
        for lab in labels
    }
    ranked = [reason for reason, _ in sum(counts.values(), Counter()).most_common()]
    shown, rest = ranked[:top], set(ranked[top:])
    rows = []
    for reason in [*shown, "other"] if rest else shown:
        row = [reason]
        for lab in labels:
            n = len(evals[lab]["samples"])
            k = sum(v for r, v in counts[lab].items() if r in rest) if reason == "other" else counts[lab][reason]
            row.append(f"{k} ({100 * k / n:.1f}%)")
        rows.append(row)
    return _md_table(["reason", *[f"{lab} model" for lab in labels]], rows) if rows else ""


def _reflection_tables(evals: dict[str, Any], labels: list[str]) -> list[str]:
    """Reflection measures per model, and retry success conditioned on each (reflections.py)."""
    have = [lab for lab in labels if evals[lab]["summary"].get("reflections")]
    if not have:
        return []
    refl = {lab: evals[lab]["summary"]["reflections"] for lab in have}
    rows = [["reflections measured", *[str(refl[lab]["n"]) for lab in have]]]
    means = [[f"mean {k.replace('_', ' ')}", *[_num(refl[lab][f"mean_{k}"]) for lab in have]] for k in reflections.BINS]
    rows += means
    rows += [
        [flag.replace("_", " "), *[str(Rate.from_dict(refl[lab][flag])) for lab in have]] for flag in reflections.FLAGS
    ]

    def cell(lab: str, key: str, value: str) -> str:
        got = refl[lab]["retry_success_by"][key].get(value)
        return str(Rate.from_dict(got)) if got else "n/a"

    by = [
        [f"{key.replace('_', ' ')}: {value}", *[cell(lab, key, value) for lab in have]]
        for key in (*reflections.FLAGS, *reflections.BINS)
        for value in dict.fromkeys(v for lab in have for v in refl[lab]["retry_success_by"][key])
    ]
    return [
        _md_table(["measure", *[f"{lab} model" for lab in have]], rows),
        "",
        "Retry success after a failed first try, by kind of reflection:",
        "",
        _md_table(["reflection", *[f"{lab} model" for lab in have]], by),
        "",
    ]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cell(text: str) -> str:
    """Model output or data as one markdown table cell: untrusted, so HTML in it is escaped (a reflection
    holding ``<script>`` must show as text, in report.md viewers and in report.html alike)."""
    text = " ".join(str(text).split())
    text = text[:300] + "…" if len(text) > 300 else text
    # Markdown syntax too: `[x](javascript:...)` must not become a link, nor `3*5*7` emphasis.
    return _MARKDOWN.sub(r"\\\g<0>", html.escape(text, quote=False))


_MARKDOWN = re.compile(r"[\\`*_\[\]|]")  # emphasis, code, links and images, table cells


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html(text: str, after: str = "") -> str:
    """``text`` (markdown) as a page, with the trusted HTML ``after`` (the episode browser) below it."""
    import markdown

    converter = markdown.Markdown(extensions=["tables", "fenced_code"])
    # Second line of defence: raw HTML anywhere in the markdown is shown as text, never passed through.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(text)
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "vertical-align:top;font-size:14px}pre{background:#f6f6f6;padding:1em;overflow:auto}img{max-width:100%}"
    )
    head = f"<meta charset='utf-8'><title>reflectrl report</title><style>{style}{viewer.STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{body}{after}</body></html>"
