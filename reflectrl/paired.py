"""Evaluations compared on the same problems: ``reflectrl paired BASE RUN [RUN ...]``.

Each RUN minus BASE over the problems both evaluated, for the first and the second try: the paired difference with
a 95% bootstrap interval and the exact McNemar p. With several RUNs (training seeds of one setting) it adds their
mean: per problem the mean of the runs' outcomes, minus BASE's. That interval covers the problems, not reruns of
training, so a Student-t interval over the runs' own differences is reported beside it (RESULTS §8j: two seeds of
one config gained +5.4 and +0.8); the seeds' mean is resolved from 0 only where both intervals say so.

BASE may also be one evaluation per run, in the runs' order (``plain=P0,P1 noleak0=N0 noleak1=N1``): the same
training seeds of another setting. Each run is then paired with its own baseline, and the mean compares the two
settings per problem, with the t-interval over the seed-by-seed differences (RESULTS §8r).

The hollow-gain guard (issue 18) is a third row when the episodes carry ``reflection_measures`` (``reflectrl eval``
writes them; evaluations from before they existed lack them): the second try without the retries whose reflection
already held a right answer, since such a retry copies a guess rather than using a reflection.

An evaluation is a folder written by ``reflectrl eval`` (or a run's ``eval-start`` / ``eval-trained``).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from reflectrl.config_file import flatten
from reflectrl.console import warn
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.stats import Rate, mcnemar_exact, paired_diff_ci, rate, t_interval

KEYS = ("first_try", "second_try")
NON_HOLLOW = "non_hollow_second_try"
TITLES = {"first_try": "first try", "second_try": "second try", NON_HOLLOW: "second try, non-hollow"}


def labelled(arg: str) -> tuple[str, Path]:
    """``LABEL=FOLDER`` or ``FOLDER`` (labelled by itself); an existing folder whose name holds "=" (runs/lr=1e-5)
    is a folder."""
    label, sep, folder = arg.partition("=")
    return (label, Path(folder)) if sep and not Path(arg).exists() else (arg, Path(arg))


def base_group(arg: str) -> tuple[str, list[Path]]:
    """BASE: ``[LABEL=]FOLDER`` or ``[LABEL=]FOLDER,FOLDER,...`` (one per run); an existing folder whose name
    holds "," is one folder, and so is each part of an unlabelled list whose parts all exist."""
    parts = arg.split(",")
    if len(parts) > 1 and all(Path(p).is_dir() for p in parts):
        return arg, [Path(p) for p in parts]
    label, folder = labelled(arg)
    if folder.exists() or "," not in str(folder):
        return label, [folder]
    if "" in (folders := str(folder).split(",")):
        raise ReflectrlError(f"{arg}: an empty folder name between commas")
    return label, [Path(f) for f in folders]


def load_eval(folder: Path) -> dict[str, dict[str, Any]]:
    """The episodes of one evaluation, by problem id."""
    samples = folder / "samples.jsonl"
    if not samples.is_file() and (folder / "samples.jsonl.gz").is_file():
        samples = folder / "samples.jsonl.gz"  # an archived evaluation (docs/results/)
    if not samples.is_file():
        hint = f"; a run folder's evaluations are {folder}/eval-start and eval-trained" if folder.is_dir() else ""
        what = "no samples.jsonl (nor an archived samples.jsonl.gz)"
        raise ReflectrlError(f"{folder}: {what}, so not an evaluation folder{hint}")
    summary = folder / "summary.json"
    if not summary.is_file():
        warn(f"{folder}: no summary.json, so the evaluation is still running or was cut short; comparing its episodes")
    episodes = {}
    for lineno, r in enumerate(read_jsonl(samples, input_file=True), 1):
        if not isinstance(r, dict) or "id" not in r or any(not isinstance(r.get(key), bool) for key in KEYS):
            raise ReflectrlError(f"{samples}:{lineno}: an episode needs an id and first_try/second_try as booleans")
        if not isinstance(r.get("reflection_measures") or {}, dict):
            raise ReflectrlError(f"{samples}:{lineno}: reflection_measures must be an object")
        if r["id"] in episodes:
            raise ReflectrlError(f"{samples}:{lineno}: problem {r['id']!r} appears a second time")
        episodes[r["id"]] = r
    if summary.is_file() and isinstance(n := _eval_json(summary).get("n"), int) and n != len(episodes):
        # `reflectrl eval` summarizes only its eval.limit problems, but a folder resumed with a smaller limit keeps
        # the episodes of the larger one: say which count is compared.
        warn(
            f"{folder}: samples.jsonl holds {len(episodes)} problems, summary.json {n} (eval.limit changed?); "
            f"comparing the {len(episodes)}"
        )
    return episodes


def _eval_json(path: Path) -> dict[str, Any]:
    """A JSON object that `reflectrl eval` wrote (summary.json, eval_identity.json)."""
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ReflectrlError(f"{path} cannot be read ({type(e).__name__}); it is written by `reflectrl eval`") from e
    if not isinstance(data, dict):
        raise ReflectrlError(f"{path} cannot be read (not a JSON object); it is written by `reflectrl eval`")
    return data


def _identity(folder: Path) -> dict[str, Any]:
    """What the evaluation ran with (eval_identity.json), flattened, without the model: the part two
    evaluations must share to be compared."""
    path = folder / "eval_identity.json"
    if not path.is_file():
        return {}
    flat = flatten(_eval_json(path))
    flat.pop("model", None)
    return flat


def non_hollow(episode: dict[str, Any]) -> bool | None:
    """Solved on the first try, or by a retry whose reflection held no right answer; None if that is unknown."""
    if episode["first_try"] or not episode["second_try"]:
        return episode["second_try"]
    measures = episode.get("reflection_measures")
    return None if measures is None else not measures.get("leak_verifies", False)


def _diff(a: list[bool], b: list[bool]) -> dict[str, float]:
    d, low, high = paired_diff_ci(a, b)
    return {"diff": d, "ci_low": low, "ci_high": high, "p_mcnemar": mcnemar_exact(a, b)}


def _mean(outcomes: dict[str, dict[str, list[Any]]], names: list[str], key: str) -> list[float]:
    """Per problem, the mean outcome of several evaluations (training seeds)."""
    return [statistics.fmean(x) for x in zip(*(outcomes[name][key] for name in names), strict=True)]


def compare(base: tuple[str, list[Path]], runs: list[tuple[str, Path]]) -> dict[str, Any]:
    """Rates of every evaluation on the shared problems, each run minus its base, and (2+ runs) their mean."""
    if not runs:
        raise ReflectrlError("give a baseline evaluation and at least one evaluation to compare with it")
    label, base_folders = base
    if len(base_folders) not in (1, len(runs)):
        raise ReflectrlError(
            f"{label} names {len(base_folders)} evaluations for {len(runs)} runs: give one baseline, or one per run"
        )
    bases = (
        [(label, base_folders[0])]
        if len(base_folders) == 1
        else [(f"{label}[{k}]", folder) for k, folder in enumerate(base_folders)]
    )
    base_of = {name: bases[k][0] if len(bases) > 1 else label for k, (name, _) in enumerate(runs)}
    named = [*bases, *runs]
    episodes = {name: load_eval(folder) for name, folder in named}
    if len(episodes) != len(named):
        raise ReflectrlError("two evaluations share a name: label them, e.g. seed0=FOLDER seed1=FOLDER")
    ids = sorted(set.intersection(*(set(e) for e in episodes.values())))
    if not ids:
        raise ReflectrlError(
            f"{base_folders[0]} and the others share no problem ids: they evaluated different problems"
        )
    for name, e in episodes.items():
        if len(e) != len(ids):
            warn(f"{name}: {len(e) - len(ids)} of its {len(e)} problems are not in every evaluation; left out")
    reference = _identity(bases[0][1])
    for name, folder in named[1:]:
        other = _identity(folder)
        if differs := sorted(k for k in reference.keys() | other.keys() if reference.get(k) != other.get(k)):
            warn(f"{name} was evaluated with other settings than {bases[0][0]} ({', '.join(differs[:5])})")

    outcomes = {
        name: {key: [e[i][key] for i in ids] for key in KEYS} | {NON_HOLLOW: [non_hollow(e[i]) for i in ids]}
        for name, e in episodes.items()
    }
    unknown = [name for name, o in outcomes.items() if None in o[NON_HOLLOW]]
    keys = KEYS if unknown else (*KEYS, NON_HOLLOW)
    result: dict[str, Any] = {
        "n": len(ids),
        "base": label,
        "folders": {name: str(folder) for name, folder in named},
        "rates": {name: {key: rate(o[key]).as_dict() for key in keys} for name, o in outcomes.items()},
        "minus_base": {
            name: {key: _diff(outcomes[base_of[name]][key], outcomes[name][key]) for key in keys} for name, _ in runs
        },
    }
    if len(bases) > 1:
        result["base_of"] = base_of
    if unknown:
        result["non_hollow_unknown"] = unknown
    if len(runs) > 1:
        mean = {}
        base_names, run_names = [name for name, _ in bases], list(base_of)
        for key in keys:
            d, low, high = paired_diff_ci(_mean(outcomes, base_names, key), _mean(outcomes, run_names, key))
            gains = [result["minus_base"][name][key]["diff"] for name, _ in runs]
            _, runs_low, runs_high = t_interval(gains)
            mean[key] = {
                "diff": d,
                "ci_low": low,
                "ci_high": high,
                "runs_sd": statistics.stdev(gains),
                "runs_ci_low": runs_low,
                "runs_ci_high": runs_high,
            }
        result["mean_of_runs"] = mean
    return result


def _pts(d: dict[str, float]) -> str:
    return f"{100 * d['diff']:+.1f} pts [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"


def format_result(r: dict[str, Any]) -> str:
    keys = list(next(iter(r["rates"].values())))
    lines = [f"{r['n']} problems in every evaluation", "", f"| evaluation | {' | '.join(TITLES[k] for k in keys)} |"]
    lines.append("|---" * (len(keys) + 1) + "|")
    for name, rates in r["rates"].items():
        lines.append(f"| {name} | " + " | ".join(str(Rate.from_dict(rates[key])) for key in keys) + " |")
    if unknown := r.get("non_hollow_unknown"):
        lines.append(
            f"(non-hollow second try not measured: {', '.join(unknown)} lack reflection_measures on right retries, "
            "so were evaluated before reflections were measured)"
        )
    lines.append("")
    for name in r.get("base_of", {}).values():
        lines.append(f"{name} = {r['folders'][name]}")
    for name, diffs in r["minus_base"].items():
        for key in keys:
            d = diffs[key]
            base = r.get("base_of", {}).get(name, r["base"])
            lines.append(f"{name} minus {base}, {key}: {_pts(d)}, McNemar p={d['p_mcnemar']:.2g}")  # 2 digits, not 0.00
    for key, d in r.get("mean_of_runs", {}).items():
        runs = len(r["minus_base"])
        lines.append(
            f"mean of the {runs} runs minus {r['base']}, {key}: {_pts(d)} "
            f"(interval over problems; over the runs' own differences, sd {100 * d['runs_sd']:.1f} pts, "
            f"t-interval [{100 * d['runs_ci_low']:+.1f}, {100 * d['runs_ci_high']:+.1f}])"
        )
    if NON_HOLLOW in keys:
        lines.append(f"{NON_HOLLOW}: solved first, or by a retry whose reflection held no right answer")
    return "\n".join(lines)
