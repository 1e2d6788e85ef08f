"""``reflectrl compare``: every algorithm trained from the same starting model with the same budget, each
evaluated over compare.turns sequential attempts, and one report. The budget is generated tokens
(train.budget_tokens; exact and reproducible, see `_spent` in reflectrl/train/loop.py), training seconds
(train.budget_seconds: the training stage's measured time, algorithms one after another on the same machine and
threads), or both (each stops at whichever it reaches first). The report shows both units per algorithm, so a
reader sees what equal tokens cost in time and the other way round.

``reflect-prompt`` is the prompt-only baseline (Self-Refine style): the starting model itself, trained by nothing,
asked to reflect and retry by the same episode prompts.

Layout of the output folder: ``boost/`` (when boost.enabled), ``mine/`` (shared: R3's failures, and the
train queries of grpo and rise), ``train/<algorithm>/``, ``eval/<label>/``, ``timings.json``,
``compare.json`` (what is compared, with the budget), ``compare.md``/``.html``, ``compare_report.json`` and
``plots/``. Every stage is skipped when complete, so a killed comparison continues where it stopped (evaluations
and training resume mid-stage); a folder holds one budget: another one needs another out_dir.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from reflectrl.config import RunConfig
from reflectrl.console import info
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json, atomic_write_text, read_jsonl
from reflectrl.stats import Rate, paired_diff_ci

UNTRAINED = "reflect-prompt"  # the baseline: the starting model, no training


def entries(cfg: RunConfig) -> list[dict[str, str]]:
    """(label, algorithm, between_turns) per compare.algorithms entry ('name' or 'name:mode')."""
    from reflectrl.train import ALGORITHMS, BETWEEN_TURNS

    out = []
    for item in cfg.compare.algorithms:
        name, _, mode = item.partition(":")
        if name not in ALGORITHMS and name != UNTRAINED:
            known = ", ".join([*ALGORITHMS, UNTRAINED])
            raise ReflectrlError(f"compare.algorithms: unknown algorithm {name!r}; available: {known}")
        mode = mode or BETWEEN_TURNS.get(name, "reflect")
        if mode not in ("reflect", "retry"):
            raise ReflectrlError(f"compare.algorithms: {item!r}: the mode after ':' must be 'reflect' or 'retry'")
        out.append({"label": item, "algorithm": name, "between_turns": mode})
    labels = [e["label"] for e in out]
    if len(set(labels)) != len(labels) or not labels:
        raise ReflectrlError("compare.algorithms must list at least one algorithm, each once")
    return out


def algorithm_config(cfg: RunConfig, entry: dict[str, str]) -> RunConfig:
    c = cfg.model_copy(deep=True)
    c.train.algorithm = entry["algorithm"]
    c.episode.between_turns = entry["between_turns"]
    c.eval.turns = cfg.compare.turns
    return c


def budget_of(cfg: RunConfig) -> dict[str, float | None]:
    """The budget every algorithm gets: generated tokens, training seconds, or both (None: not limited)."""
    return {"tokens": cfg.train.budget_tokens, "seconds": cfg.train.budget_seconds}


def manifest_budget(manifest: dict[str, Any]) -> dict[str, float | None]:
    """The manifest's budget; a folder written before seconds existed holds the token count alone."""
    budget = manifest.get("budget")
    return dict(budget) if isinstance(budget, dict) else {"tokens": budget, "seconds": None}


def describe_budget(budget: dict[str, float | None]) -> str:
    parts = []
    if budget.get("tokens") is not None:
        parts.append(f"{budget['tokens']:,} generated tokens")
    if budget.get("seconds") is not None:
        parts.append(f"{budget['seconds']:g} s of training time")
    return " or ".join(parts) + (" (whichever comes first)" if len(parts) > 1 else "") if parts else "no budget"


def run_compare(cfg: RunConfig) -> dict[str, Any]:
    from reflectrl.pipeline import pin_config, run_boost, run_eval, run_mine, run_train, splits
    from reflectrl.tasks import get_task

    budget = budget_of(cfg)
    if budget["tokens"] is None and budget["seconds"] is None:
        raise ReflectrlError(
            "compare needs train.budget_tokens and/or train.budget_seconds: every algorithm gets the same budget "
            "of generated tokens and/or training seconds"
        )
    todo = entries(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "compare.json").is_file():  # before the config pin: say what changed, not only that something did
        before = manifest_budget(json.loads((out / "compare.json").read_text()))
        if before != budget:
            raise ReflectrlError(
                f"{out} holds a comparison at a budget of {describe_budget(before)}, not "
                f"{describe_budget(budget)}: results at two budgets would mix; use a new out_dir "
                "(--set out_dir=NEW_FOLDER)"
            )
    pin_config(out / "config.yaml", cfg)
    atomic_write_json(out / "compare.json", {"entries": todo, "turns": cfg.compare.turns, "budget": budget})
    task = get_task(cfg.task.name, **cfg.task.options)
    boost_problems, mine_queries = splits(task, cfg)
    timings_path = out / "timings.json"
    timings: dict[str, float] = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    def stage(name: str, fn, *args):
        info(f"[bold]stage {name}[/]")
        started = time.time()
        result = fn(*args)
        timings[name] = timings.get(name, 0.0) + time.time() - started
        atomic_write_json(timings_path, timings)
        return result

    start_model = cfg.model.name
    if cfg.boost.enabled:
        start_model = stage("boost", run_boost, cfg, task, boost_problems, out / "boost")
    stage("mine", run_mine, cfg, task, start_model, mine_queries, out / "mine")
    for e in todo:
        acfg = algorithm_config(cfg, e)
        # Training does not depend on the evaluation mode: one training per algorithm.
        trained = start_model
        if e["algorithm"] != UNTRAINED:
            train_dir = out / "train" / e["algorithm"]
            trained = stage(f"train:{e['algorithm']}", run_train, acfg, task, start_model, out / "mine", train_dir)
        stage(f"eval:{e['label']}", run_eval, acfg, task, trained, out / "eval" / _folder(e["label"]), e["label"])
    return stage("report", write_compare_report, out)


def _folder(label: str) -> str:
    return label.replace(":", "-")


def collect_rows(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest_path = out / "compare.json"
    if not manifest_path.is_file():
        raise ReflectrlError(f"{out}: no compare.json; is this a folder written by `reflectrl compare`?")
    manifest = json.loads(manifest_path.read_text())
    timings = json.loads((out / "timings.json").read_text()) if (out / "timings.json").is_file() else {}
    rows = []
    for e in manifest["entries"]:
        ev = out / "eval" / _folder(e["label"])
        if not (ev / "summary.json").is_file():
            continue
        train = out / "train" / e["algorithm"]
        tokens = (
            json.loads((train / "generated_tokens.json").read_text())
            if (train / "generated_tokens.json").is_file()
            else {}
        )
        untrained = e["algorithm"] == UNTRAINED  # nothing trained: no tokens, no steps, no time
        rows.append(
            {
                **e,
                "summary": json.loads((ev / "summary.json").read_text()),
                "samples": {r["id"]: r for r in read_jsonl(ev / "samples.jsonl")},
                "metrics": read_jsonl(train / "metrics.jsonl"),
                "generated_tokens": tokens.get("generated_tokens", 0 if untrained else None),
                "steps": tokens.get("steps", 0 if untrained else None),
                # The budget's unit: the training loop's measured time (rollout + update), summed over sittings.
                "train_seconds": tokens.get("train_seconds", 0.0 if untrained else None),
                # The whole stage as the clock saw it: model loading, checkpoints and saving included.
                "train_stage_seconds": timings.get(f"train:{e['algorithm']}"),
                "eval_seconds": timings.get(f"eval:{e['label']}"),
            }
        )
    if not rows:
        raise ReflectrlError(f"{out}: no evaluation finished yet")
    return manifest, rows


def _flags(row: dict[str, Any], column: str, turns: int) -> dict[str, bool]:
    """Per-problem success of a report column."""
    k = turns - 1
    pick = {
        "first_try": lambda r: r["first_try"],
        "second_try": lambda r: r["second_try"],
        "p1": lambda r: r["p1@tk"][k],
        "m1": lambda r: r["m1@tk"][k],
        "mk": lambda r: r["mk@t1"][k],
    }[column]
    return {i: bool(pick(r)) for i, r in row["samples"].items()}


def write_compare_report(run_dir: str | Path) -> dict[str, Any]:
    out = Path(run_dir)
    manifest, rows = collect_rows(out)
    K = manifest["turns"]
    columns = [
        ("first_try", "first try", "first_try"),
        ("second_try", "second try", "second_try"),
        (f"p1@t{K}", f"p1@t{K}", "p1"),
        (f"m1@t{K}", f"m1@t{K}", "m1"),
        (f"m{K}@t1", f"m{K}@t1", "mk"),
    ]
    budget = manifest_budget(manifest)
    header = [
        "algorithm",
        "between turns",
        *[c[1] for c in columns],
        "tokens generated",
        "train seconds",
        "optimizer steps",
        "train stage wall time",
    ]
    table = []
    for r in rows:
        s = r["summary"]
        cells = [str(Rate.from_dict(s[key])) if key in s else "n/a" for key, _, _ in columns]
        minutes = "n/a" if r["train_stage_seconds"] is None else f"{r['train_stage_seconds'] / 60:.1f} min"
        seconds = "n/a" if r["train_seconds"] is None else f"{r['train_seconds']:,.1f} s"
        tokens = "n/a" if r["generated_tokens"] is None else f"{r['generated_tokens']:,}"
        table.append(
            [
                r["label"],
                r["between_turns"],
                *cells,
                tokens,
                seconds,
                str(r["steps"] if r["steps"] is not None else "n/a"),
                minutes,
            ]
        )

    reference = next((r for r in rows if r["algorithm"] == UNTRAINED), rows[0])
    diffs, diff_table = _paired(reference, [r for r in rows if r is not reference], columns, K)
    # R3's own baseline: vanilla GRPO, trained on the answer reward (first-attempt success) at the same budget.
    grpo_pairs = []
    for r in rows:
        if r["algorithm"] in ("r3", "r3-answer"):
            grpos = [g for g in rows if g["algorithm"] == "grpo"]
            same_mode = [g for g in grpos if g["between_turns"] == r["between_turns"]]
            if grpos:
                grpo_pairs.append((r, (same_mode or grpos)[0]))
    vs_grpo: dict[str, dict[str, Any]] = {}
    grpo_table = []
    for r, g in grpo_pairs:
        d, t = _paired(g, [r], columns, K)
        vs_grpo[r["label"]] = {"minus": g["label"], **d[r["label"]]}
        grpo_table.append([f"{r['label']} - {g['label']}", *t[0][1:]])

    pics = _plots(rows, columns, out / "plots")
    md = [f"# reflectrl comparison: `{out}`", ""]
    md += [
        f"Every algorithm starts from the same model with the same budget of {describe_budget(budget)} and is "
        f"evaluated with {K} sequential attempts per problem (no oracle). 95% Wilson intervals; "
        "second try = p1@t2 (reflection between turns for 'reflect', the plain retry message for 'retry').",
        "",
        "Tokens generated: by the policy in training rollouts. Train seconds: the training stage's measured time "
        "(rollout + update, summed over resumed sittings; the unit of train.budget_seconds), algorithms trained one "
        "after another on the same machine and threads, so it is comparable only within this folder and only when "
        "nothing else ran on the machine meanwhile; reflect-prompt trains nothing (0 s). Train stage wall time "
        "adds model loading, checkpoints and saving.",
        "",
        _md_table(header, table),
        "",
    ]
    if diff_table:
        md += [
            f"## Minus `{reference['label']}`, paired on the same problems (points, 95% bootstrap CI)",
            "",
            _md_table(["algorithm", *[c[1] for c in columns]], diff_table),
            "",
        ]
    if grpo_table:
        md += [
            f"## R3 minus vanilla GRPO (answer reward) at the same budget of {describe_budget(budget)}, "
            "paired on the same problems (points, 95% bootstrap CI)",
            "",
            _md_table(["comparison", *[c[1] for c in columns]], grpo_table),
            "",
        ]
    if pics:
        md += ["## Plots", ""] + [f"![{p}](plots/{p})" for p in pics] + [""]
    text = "\n".join(md)
    atomic_write_text(out / "compare.md", text)
    from reflectrl import viewer
    from reflectrl.report import _html

    # The episode browser with one column per algorithm; "fixed"/"broken" compare the first and the last.
    per_algorithm = {r["label"]: {"samples": list(r["samples"].values())} for r in rows}
    atomic_write_text(out / "compare.html", _html(text, viewer.section(per_algorithm, list(per_algorithm))))
    result = {
        "turns": K,
        "budget": budget,
        "rows": [{k: v for k, v in r.items() if k not in ("samples", "metrics")} for r in rows],
        "paired_vs": reference["label"],
        "paired_differences": diffs,
        "r3_minus_grpo": vs_grpo,
    }
    atomic_write_json(out / "compare_report.json", result)
    return result


def _paired(reference, rows, columns, turns: int) -> tuple[dict[str, dict[str, Any]], list[list[str]]]:
    """Per row: the row minus ``reference`` on each column, paired on the problems both evaluated."""
    diffs: dict[str, dict[str, Any]] = {}
    table = []
    for r in rows:
        cells, diffs[r["label"]] = [], {}
        for key, _name, col in columns:
            a, b = _flags(reference, col, turns), _flags(r, col, turns)
            ids = sorted(set(a) & set(b))
            d, lo, hi = paired_diff_ci([a[i] for i in ids], [b[i] for i in ids])
            diffs[r["label"]][key] = {"diff": d, "low": lo, "high": hi, "n": len(ids)}
            cells.append(f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]")
        table.append([r["label"], *cells])
    return diffs, table


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _plots(rows: list[dict[str, Any]], columns, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reflectrl.report import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    curves = [
        ("generated_tokens", "tokens generated in training", "training_curves.png"),
        ("train_seconds", "training seconds (measured)", "training_curves_time.png"),
    ]
    for x_key, x_label, name in curves:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        drawn = False
        for r in rows:
            points = sorted((m[x_key], m["reward"]) for m in r["metrics"] if "reward" in m and x_key in m)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            window = 5 if len(ys) >= 10 else 1  # per-step rewards are noisy: a 5-step running mean
            smooth = [
                sum(ys[max(0, i - window + 1) : i + 1]) / len(ys[max(0, i - window + 1) : i + 1])
                for i in range(len(ys))
            ]
            ax.plot(xs, smooth, marker="o", ms=2, label=f"{r['algorithm']}: {_reward_name(r['algorithm'])}")
            drawn = True
        if drawn:
            ax.set_xlabel(x_label)
            ax.set_ylabel("training reward")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title("Training curves at equal budget")
            ax.legend(fontsize=8)
            fig.tight_layout()
            save_figure(fig, folder / name)
            written.append(name)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        rates = [
            Rate.from_dict(r["summary"][key]) if key in r["summary"] else Rate(0, 0, 0, 0) for key, _, _ in columns
        ]
        xs = [j + i * width for j in range(len(columns))]
        ys = [100 * (x.value if x.n else 0) for x in rates]
        err = [
            [100 * max(0.0, (x.value - x.low)) if x.n else 0 for x in rates],
            [100 * max(0.0, x.high - x.value) if x.n else 0 for x in rates],
        ]
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=r["label"])
    ax.set_xticks([j + width * (len(rows) - 1) / 2 for j in range(len(columns))])
    ax.set_xticklabels([c[1] for c in columns])
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.legend(fontsize=8)
    ax.set_title("Held-out accuracy per algorithm")
    fig.tight_layout()
    save_figure(fig, folder / "accuracy.png")
    plt.close(fig)
    written.append("accuracy.png")
    return written


def _reward_name(algorithm: str) -> str:
    return {
        "grpo": "first-attempt success",
        "r3": "retry success after reflection",
        "r3-answer": "retry success after reflection",
        "rise": "success of sampled turns (per round)",
    }.get(algorithm, "reward")
