#!/usr/bin/env bash
# Plan addendum 15: pool replicate R (the long config as shipped, one piece, its own boost, judged on fresh dev
# 500-1499). Rerun to resume. EXP is the experiment folder holding code/ (a clone of main); default: stop 53's.
# RL is the reflectrl to run (a venv built by scripts/setup.sh); default: /work/main's.
R=${R:?set R}; EXP=${EXP:-/work/exp/s53}; O=$EXP/rep$R; RL=${RL:-/work/main/.venv/bin/reflectrl}
cd $EXP/code
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
mkdir -p $O.logs; git rev-parse HEAD > $O.logs/commit
date -u +%FT%TZ >> $O.logs/start
/usr/bin/time -v $RL run --config configs/countdown-long.yaml --set out_dir=$O \
  --set eval.split=dev --set eval.offset=500 --set eval.limit=1000 \
  --set boost.seed=$R --set mine.seed=$R --set train.seed=$R >> $O.logs/run.log 2>> $O.logs/run.err
echo "rc=$?" >> $O.logs/rc; date -u +%FT%TZ >> $O.logs/end
