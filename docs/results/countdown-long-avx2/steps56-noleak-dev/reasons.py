"""Why the retries after a failed first try ended as they did (retry-reasons.txt): LABEL=FOLDER ..."""
import collections, json, sys
for spec in sys.argv[1:]:
    label, folder = spec.split("=", 1)
    c, n = collections.Counter(), 0
    for r in map(json.loads, open(f"{folder}/samples.jsonl")):
        if r["first_try"]:
            continue
        n += 1
        reason = r.get("retry_reason")
        c["right" if r["second_try"] else reason if reason in ("wrong_numbers", "wrong_value") else "other"] += 1
    print(f"{label}: {n} retries, " + ", ".join(f"{k} {c[k]}" for k in ("wrong_numbers", "wrong_value", "right", "other")))
