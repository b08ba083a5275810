#!/usr/bin/env bash
# On the GPU machine, after `source .gpu/setup.sh`: where the webgpu device time goes (per kind of dispatch, fp16
# and fp32), the fused attention kernel per (BQ, BKV), and a short vit bench of the fp16 path. Logs and JSON in $OUT.
set -u
O=${OUT:-/tmp/vit-webgpu-profile}; mkdir -p "$O"
C="node dist/bench/webgpu-f16-check.js"
{
  echo "== profile"; timeout 180 $C profile --out "$O/profile.json"
  echo "== attention"; timeout 150 $C attention --out "$O/attention.json"
  echo "== bench"; timeout 150 node dist/cli/vit.js bench --model random:vit-base-patch16-224 --backend webgpu --precision ${BENCH_PRECISIONS:-fp16} \
    --batch-size ${BENCH_BATCHES:-64,256} --image-size ${BENCH_SIZES:-224} --duration 2 --format json --output "$O/bench.json"
} 2>&1 | grep -v '^Warning: maxDynamic' | tee "$O/profile.log"
