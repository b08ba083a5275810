#!/usr/bin/env bash
# One GPU-machine call (after `source .gpu/setup.sh`): the CUDA peer comparison (bench/peers/run-all.sh without
# onnxruntime), per-stage profiles at batch 256, and the PyTorch feature / distilled-DeiT fixtures
# (scripts/make-fixtures.py), packed into one tar. Everything lands under $OUT (at most 8 files come back).
set -u
O=${OUT:-/tmp/vit-device-run}; mkdir -p "$O"
export PYTHONUNBUFFERED=1
STEPS=${STEPS:-export,compare,cuda,torch,torchbest,combine} NO_ONNX=1 QUICK=1 BATCHES=${BATCHES:-1,64,256} SIZES=${SIZES:-224,384} \
  timeout "${PEERS_TIMEOUT:-450}" bash bench/peers/run-all.sh
for p in ${PROFILE_PRECISIONS:-bf16 fp16 tf32 fp32}; do
  timeout 30 node dist/bench/cuda-profile.js --model /tmp/vit-peers-work/model --precision "$p" --batch 256 --out "/tmp/profile-$p.json"
done 2>&1 | tee "$O/profiles.log"
[ "${FIXTURES:-1}" = 0 ] && { echo "device-run: done (no fixtures)"; exit 0; }
mkdir -p /tmp/fx && timeout "${FIXTURE_TIMEOUT:-120}" python3 scripts/make-fixtures.py --out /tmp/fx > /tmp/fx.log 2>&1
for m in hf-tiny timm-tiny; do cmp -s "/tmp/fx/models/$m/model.safetensors" "test/fixtures/models/$m/model.safetensors" && echo "$m: regenerated model identical" || echo "$m: regenerated model DIFFERS"; done >> /tmp/fx.log
cp /tmp/fx.log /tmp/fx/make-fixtures-features.log
tar -C /tmp/fx -cf "$O/fixtures-new.tar" make-fixtures-features.log $(cd /tmp/fx && ls fixtures/*features* fixtures/deit-distilled* 2>/dev/null) models/deit-distilled-tiny 2>/dev/null
echo "device-run: done"
