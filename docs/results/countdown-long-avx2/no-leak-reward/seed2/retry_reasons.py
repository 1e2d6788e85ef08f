"""Why the retries after a reflection failed (the verifier's reason), per dev evaluation: a retry that answers with
the reflection's two-number "first step" alone fails as wrong_numbers."""
import collections, json, sys
for spec in sys.argv[1:]:
    name, d = spec.split("=")
    rows = [r for r in map(json.loads, open(f"{d}/samples.jsonl")) if r.get("reflection") is not None]
    reasons = collections.Counter(r["retry_reason"] for r in rows if not r["retry_success"])
    print(f"{name}: {len(rows)} retries, wrong_numbers {reasons['wrong_numbers']}, wrong_value {reasons['wrong_value']}, "
          f"right {sum(r['retry_success'] for r in rows)}, other {sum(reasons.values()) - reasons['wrong_numbers'] - reasons['wrong_value']}")
