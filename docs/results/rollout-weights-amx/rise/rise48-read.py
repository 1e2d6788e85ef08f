import json, glob, sys
for d in sorted(glob.glob("/work/exp/s48/rise48-*-[0-9]")):
    rows = [json.loads(l) for l in open(f"{d}/round-0/collected.jsonl")]
    tok = sum(r["tokens"] for r in rows); sec = sum(r["seconds"] for r in rows)
    st = json.load(open(f"{d}/round-0/train_state.json"))
    print(f"{d.split('/')[-1]}: {len(rows)} queries, {tok} tokens, collection {sec:.1f} s, {tok/sec:.1f} tok/s, train {st['seconds']:.1f} s, {st['global_step']} steps")
