#!/usr/bin/env bash
# train.rollout_weights auto (bf16 copy) vs trainer (fp32 weights under autocast): 5 steps of the long config's
# training from the same boost and failures, order A B B A, on the AMX machine, nothing else running.
cd /work/main
export TOKENIZERS_PARALLELISM=false
L=/work/exp/s47/long; R=/work/exp/s47/ab; mkdir -p $R
date -u +%FT%TZ > $R/start
for arm in auto:1 trainer:1 trainer:2 auto:2; do
  w=${arm%:*}; r=${arm#*:}
  .venv/bin/reflectrl train --config configs/countdown-long.yaml --model $L/boost/model \
    --failures $L/mine/failures.jsonl --set train.steps=5 --set train.save_steps=100 \
    --set train.rollout_weights=$w --out $R/$w-$r > $R/$w-$r.log 2>&1
done
date -u +%FT%TZ > $R/end
