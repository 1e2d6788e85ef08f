"""The forgetting report: the table (terminal and markdown) and the data each number came from."""

from __future__ import annotations

from typing import Any

# Short names for the table; docs/FORGETTING.md says what each one is.
METRIC_NAMES = {
    "exact_match,flexible-extract": "exact match (last number)",
    "exact_match,custom-extract": "exact match ('answer is (X)')",
    "exact_match,none": "exact match (is_equiv)",
    "acc,none": "acc (option letter)",
    "acc_norm,none": "acc_norm",
    "first_try": "first try (verifier)",
    "mmlu/acc_norm,none": "acc_norm (option text)",
    "mmlu/acc,none": "acc (option text)",
}
METRIC_DETAILS = {
    "exact_match,flexible-extract": "lm-eval exact_match, flexible-extract filter (last number; ',' '$' ignored)",
    "exact_match,custom-extract": "lm-eval exact_match of the letter in 'the answer is (X)'",
    "exact_match,none": "lm-eval hendrycks_math exact_match (is_equiv against the last \\boxed{})",
    "acc,none": "lm-eval acc: the option letter with the highest loglikelihood",
    "acc_norm,none": "lm-eval acc_norm: the ending with the highest loglikelihood per character",
    "first_try": "one attempt per problem, judged by the task's verifier",
    "mmlu/acc_norm,none": "cloze: lm-eval acc_norm, the option text with the highest loglikelihood per character",
    "mmlu/acc,none": "the option text with the highest total loglikelihood",
}


def metric_name(benchmark: str, metric: str) -> str:
    return METRIC_NAMES.get(f"{benchmark}/{metric}") or METRIC_NAMES.get(metric, metric)


def metric_detail(benchmark: str, metric: str) -> str:
    return METRIC_DETAILS.get(f"{benchmark}/{metric}") or METRIC_DETAILS.get(metric, metric)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _score_cell(s: dict[str, Any]) -> str:
    return f"{_pct(s['rate'])}% [{_pct(s['ci_low'])}, {_pct(s['ci_high'])}] ({s['k']}/{s['n']})"


def _diff_cell(d: dict[str, Any]) -> str:
    return f"{100 * d['diff']:+.1f} pts [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] (n={d['n_paired']})"


def _data_cell(source: dict[str, Any]) -> str:
    if source["kind"] == "local":
        cell = f"{source['path']} (sha256 {source['sha256'][:12]}, {source['rows']} rows)"
        sel = source.get("selection")
        if sel:
            cell += (
                f", {sel['slice']} slice ({sel['method']}; {sel['selected']} of {sel['pool']}, "
                f"{sel['topics']}/{sel['topics_in_file']} topics, {sel['per_topic_min']}-{sel['per_topic_max']} each)"
            )
        return cell
    if source["kind"] == "hub":
        return f"lm-eval task {source['task']} (hub {source['dataset']})"
    opts = ", ".join(f"{k}={v}" for k, v in source["options"].items())
    return f"task {source['task']} test split ({opts}; sha256 {source['sha256'][:12]}, {source['rows']} rows)"


def _also_cell(name: str, b: dict[str, Any], metric: str) -> str:
    cells = ", ".join(f"{lab} {_score_cell(sc['also'][metric])}" for lab, sc in b["scores"].items())
    return f"{metric_name(name, metric)} ({metric_detail(name, metric)}): {cells}"


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the forgetting table (shared by the terminal and the markdown report)."""
    labels = [m["label"] for m in report["models"]]
    names = {m["label"]: m["name"] for m in report["models"]}
    header = ["benchmark", "metric", *[f"{lab}: {names[lab]}" for lab in labels]]
    header += [f"{lab} - {labels[0]}" for lab in labels[1:]]
    rows = []
    for name, b in report["benchmarks"].items():
        row = [name, b["metric_description"], *[_score_cell(b["scores"][lab]) for lab in labels]]
        row += [_diff_cell(b["diffs"][lab]) for lab in labels[1:]]
        rows.append(row)
    for name, why in report["skipped"].items():
        rows.append([name, "skipped", why, *[""] * (len(header) - 3)])
    return header, rows


def format_markdown(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    lines = ["# Forgetting", ""]
    lines += [f"- {m['label']}: `{m['name']}`" for m in report["models"]]
    s = report["settings"]
    lines += [
        "",
        f"limit {s['limit']}, online {s['online']}, lm-eval {s['lm_eval_version']}, "
        f"chat template {s['chat_template']}, max_gen_toks {s['max_gen_toks']}. "
        f"Cross-task attempts: temperature {s['cross_task']['temperature']}, "
        f"{s['cross_task']['max_new_tokens']} new tokens. "
        "Scores: mean with a 95% Wilson interval (k/n). Differences: paired bootstrap 95% interval "
        "over the items both models answered.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines += ["", "## Data", ""]
    for name, b in report["benchmarks"].items():
        n = {b["scores"][lab]["n"] for lab in b["scores"]}
        shots = b["source"].get("num_fewshot")
        extra = f", {shots}-shot" if shots is not None else ""
        lines.append(
            f"- **{name}**: {_data_cell(b['source'])}; {'/'.join(map(str, sorted(n)))} examples{extra}; "
            f"{metric_detail(name, b['metric'])}"
        )
        for metric in b.get("also", []):
            lines.append(f"  - also {_also_cell(name, b, metric)}")
    for name, why in report["skipped"].items():
        lines.append(f"- **{name}**: skipped: {why}")
    wall = report["wall_seconds"]
    lines += ["", "Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in wall.items())]
    return "\n".join(lines) + "\n"


def print_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    from reflectrl.console import out

    header, rows = table_rows(report)
    table = Table(title="Forgetting (95% CIs)", show_lines=False)
    for h in header:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    for name, b in report["benchmarks"].items():
        out.print(f"  {name}: {_data_cell(b['source'])}", highlight=False)
        for metric in b.get("also", []):
            out.print(f"    also {_also_cell(name, b, metric)}", highlight=False)
