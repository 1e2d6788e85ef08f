#!/usr/bin/env bash
# Plan addendum 7: the boost, plain seeds 0-2 and guard seeds 0-2 on 1,000 fresh dev problems (dev 500-1499),
# then pooled with the 500 dev problems read before (secondary). Run in /work/exp/s50; skips models not evaluated.
L=/work/exp/s47; G=/work/exp/s49; M=/work/main; P=$M/.venv/bin
cd /work/exp/s50
have() { [ -f fresh-$1/summary.json ]; }
PLAIN=$(for S in 0 1 2; do have plain$S && printf 'plain%s=fresh-plain%s ' $S $S; done)
GUARD=$(for S in 0 1 2; do have guard$S && printf 'guard%s=fresh-guard%s ' $S $S; done)
echo "## fresh dev 500-1499: plain seeds minus the boost (the rule of addendum 7)"
$P/reflectrl paired boost=fresh-boost $PLAIN
if [ -n "$GUARD" ]; then
  echo "## fresh dev 500-1499: guard seeds minus the boost"
  $P/reflectrl paired boost=fresh-boost $GUARD
  GS=$(for S in 0 1 2; do have guard$S && printf '%s ' $S; done)
  BASES=$(for S in $GS; do printf 'fresh-plain%s,' $S; done)
  echo "## fresh dev 500-1499: guard minus plain, seed by seed"
  $P/reflectrl paired plain=${BASES%,} $GUARD
fi
echo "## hollow-gain guard, fresh dev"
ALL=$(for N in plain0 plain1 plain2 guard0 guard1 guard2; do have $N && printf 'fresh-%s ' $N; done)
$P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py fresh-boost $ALL
$P/python $M/docs/results/countdown-long-avx2/steps56-noleak/reasons.py boost=fresh-boost \
  $(for N in plain0 plain1 plain2 guard0 guard1 guard2; do have $N && printf '%s=fresh-%s ' $N $N; done)
for N in boost plain0 plain1 plain2 guard0 guard1 guard2; do
  have $N && $P/python -c "
import json; s = json.load(open('fresh-$N/summary.json')); r = s['retry_minus_resample']
print('$N', f\"retry - resample {100 * r['diff']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] n={r['n']}\",
      'retry', s['retry_after_failure']['k'], 'fresh', s['resample_after_failure']['k'], 'n', s['n'])"
done
# Secondary: pooled 1,500 dev problems (the 500 read before this plan, plus the fresh 1,000).
old() { case $1 in boost) echo $L/long/eval-start;; plain0) echo $L/long/eval-trained;; plain1|plain2) echo $L/dev-seed${1#plain};;
        guard*) echo $G/dev-guard${1#guard};; esac; }
for N in boost plain0 plain1 plain2 guard0 guard1 guard2; do
  if have $N && [ -f "$(old $N)/samples.jsonl" ]; then
    mkdir -p pooled-$N && cat "$(old $N)/samples.jsonl" fresh-$N/samples.jsonl > pooled-$N/samples.jsonl
  fi
done
PP=$(for S in 0 1 2; do [ -d pooled-plain$S ] && printf 'plain%s=pooled-plain%s ' $S $S; done)
PG=$(for S in 0 1 2; do [ -d pooled-guard$S ] && printf 'guard%s=pooled-guard%s ' $S $S; done)
# (a pooled folder has no summary.json, so paired warns on stderr that it compares the episodes: dropped here)
echo "## secondary: pooled dev 0-1499 (1,500 problems), plain seeds minus the boost"
$P/reflectrl paired boost=pooled-boost $PP 2>/dev/null
if [ -n "$PG" ]; then
  echo "## secondary: pooled dev 0-1499 (1,500 problems), guard seeds minus the boost"
  $P/reflectrl paired boost=pooled-boost $PG 2>/dev/null
fi
