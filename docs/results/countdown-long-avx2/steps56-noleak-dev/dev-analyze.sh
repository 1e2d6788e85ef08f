#!/usr/bin/env bash
# steps56-noleak-dev: the complete pairs so far, no-leak minus plain of the same seed on dev (reflectrl paired, main's
# code), each minus the boost's dev evaluation (§8m/§8n, /work/exp/s40/l56/eval-start), and the no-leak models' leaks.
O=/work/exp/s45; R=/work/main/.venv/bin/reflectrl
plains=""; runs=""; plain_runs=""
for S in 0 1 2 3; do
  [ -f $O/dev-plain$S/summary.json ] && [ -f $O/dev-nl$S/summary.json ] || continue
  plains="$plains,$O/dev-plain$S"; runs="$runs nl$S=$O/dev-nl$S"; plain_runs="$plain_runs plain$S=$O/dev-plain$S"
done
[ -n "$runs" ] || { echo "no complete pair yet"; exit 0; }
PYTHONPATH=/work/main $R paired plain=${plains#,} $runs --out $O/dev-paired-vs-plain.json
echo
PYTHONPATH=/work/main $R paired boost=/work/exp/s40/l56/eval-start $runs --out $O/dev-paired-nl-vs-boost.json
echo
PYTHONPATH=/work/main $R paired boost=/work/exp/s40/l56/eval-start $plain_runs --out $O/dev-paired-plain-vs-boost.json
echo
for d in $O/dev-nl? $O/dev-plain?; do
  [ -f $d/summary.json ] || continue
  python3 -c "import json,sys; d=json.load(open(sys.argv[1]+'/summary.json')); l=d['reflections']['leak']; r=d['retry_minus_resample']
print(sys.argv[1], 'leaks', l['k'], '/', l['n'], 'retry-fresh %+.1f [%+.1f, %+.1f]' % (100*r['diff'], 100*r['ci_low'], 100*r['ci_high']))" $d
done
