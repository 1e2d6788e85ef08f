"""RESULTS §8r's table rows from `reflectrl eval` summaries: first and second try (Wilson 95%), resample pass@2,
retry and fresh sample after a failure, their paired difference, and the reflections holding a whole equation.
Usage: table.py LABEL=FOLDER ..."""
import json
import sys


def pct(r, ci=True):
    s = f"{100 * r['rate']:.1f}%"
    return f"{s} [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}] ({r['k']})" if ci else s


for spec in sys.argv[1:]:
    label, folder = spec.split("=", 1)
    d = json.load(open(f"{folder}/summary.json"))
    a, f, m = d["retry_after_failure"], d["resample_after_failure"], d["retry_minus_resample"]
    leak, verifies = d["reflections"]["leak"], d["reflections"]["leak_verifies"]
    print(
        f"| {label} | {pct(d['first_try'])} | {pct(d['second_try'])} | {pct(d['resample_pass2'], ci=False)} | "
        f"{100 * a['rate']:.1f}% ({a['k']}/{a['n']}) | {100 * f['rate']:.1f}% ({f['k']}/{f['n']}) | "
        f"{100 * m['diff']:+.1f} [{100 * m['ci_low']:+.1f}, {100 * m['ci_high']:+.1f}], p={m['p_mcnemar']:.2f} | "
        f"{leak['k']}/{leak['n']} ({verifies['k']} verify) |"
    )
