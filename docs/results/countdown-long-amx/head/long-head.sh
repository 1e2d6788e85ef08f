#!/usr/bin/env bash
# Stop 51, plan addendum 12: the long config in one piece at main's HEAD, on dev (§8s's command). Rerun to resume.
O=/work/exp/s51; C=$O/code-head
[ -d $C ] || git clone -q /work/main $C
cd $C && git rev-parse HEAD > $O/long-head.commit
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ >> $O/long-head.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl run --config configs/countdown-long.yaml \
  --set out_dir=$O/long-head --set eval.split=dev >> $O/long-head.log 2>&1
echo "rc=$?" >> $O/long-head.rc; date -u +%FT%TZ >> $O/long-head.end
