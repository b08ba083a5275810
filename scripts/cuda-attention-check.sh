#!/usr/bin/env bash
# On the GPU machine (after `source .gpu/setup.sh`): the cuda attention kernels for float32 activations (fp32, tf32).
# Fixture conformance in fp32, device time per stage for each kernel kind (ViT-B/16 at 224 and 384, batches 1 to
# 256), and each kind's tf32 accuracy against PyTorch's on ViT-B random inputs and the DeiT-tiny photos.
# DEIT: a DeiT-tiny folder (timm layout). Everything under $OUT (and $OUT/all.tgz).
set -u
O=${OUT:-/tmp/vit-cuda-attention}; mkdir -p "$O/cuda"
export PYTHONUNBUFFERED=1
KINDS=${KINDS:-tf32x3 tf32x3-qk tf32}
STEPS=compare OUT="$O/cuda" timeout 120 bash scripts/cuda-check.sh > "$O/compare.log" 2>&1
prof() { # precision batch size [attention]
  echo "== $1 b$2 $3 ${4:-default}"
  timeout 60 node dist/bench/cuda-profile.js --model random:vit-base-patch16-224 --precision "$1" --batch "$2" --image-size "$3" \
    ${4:+--attention "$4"} --out "$O/cuda/profile-$1-b$2-$3-${4:-default}.json" 2>&1 | grep -v '^  gemm'
}
{
  for k in $KINDS; do prof tf32 256 224 "$k"; prof tf32 64 384 "$k"; done
  prof fp32 256 224; prof fp32 64 384; prof fp32 1 224; prof fp32 1 384; prof tf32 1 224; prof tf32 1 384
  prof bf16 256 224; prof fp16 256 224; prof bf16 64 384
} > "$O/profile.log" 2>&1
{
  P=/tmp/vit-cuda-work; mkdir -p $P
  STEPS=vitb OUT="$O/cuda" timeout 150 bash scripts/cuda-check.sh > /dev/null 2>&1
  node scripts/photo-pixels.mjs --model "${DEIT:-.gpu-deit16}" --images test/photos --out /tmp/deit-pixels.safetensors
  python3 bench/peers/autocast_logits.py --model "${DEIT:-.gpu-deit16}" --pixels /tmp/deit-pixels.safetensors --out /tmp/deit-ref.safetensors
  for k in $KINDS; do
    echo "== attention $k"
    timeout 60 node dist/bench/precision.js --model $P/model --ref $P/vitb-ref.safetensors --precisions fp32,tf32 --attention "$k" --out "$O/cuda/precision-vitb-$k.json" | tail -3
    timeout 60 node dist/bench/precision.js --model "${DEIT:-.gpu-deit16}" --ref /tmp/deit-ref.safetensors --precisions fp32,tf32 --attention "$k" --out "$O/cuda/precision-deit-$k.json" | tail -3
  done
} > "$O/accuracy.log" 2>&1
tar -C "$O" -czf "$O/all.tgz" cuda compare.log profile.log accuracy.log
grep -E 'PASS|FAIL|rror' "$O/compare.log" | cut -c1-100; grep -E '^(==|cuda|  attention)' "$O/profile.log" | sed 's/cuda \(.*\) on GPU 0: .*attention \([a-z0-9-]*\)): /\1 \2: /'; cat "$O/accuracy.log" | grep -v '^precision check'
