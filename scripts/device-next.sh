#!/usr/bin/env bash
# A GPU-machine call (after `source .gpu/setup.sh`): the cuda fp32/tf32 attention on TF32 tensor cores (fixture
# conformance, per-stage profiles against the SIMT kernel, accuracy against PyTorch on ViT-B random and DeiT-tiny),
# then the webgpu fp16 attention and tile variants at 224 and 384. Everything in $OUT/all.tgz.
set -u
O=${OUT:-/tmp/vit-device-next}; mkdir -p "$O/cuda" "$O/f16"
export PYTHONUNBUFFERED=1
STEPS=compare OUT="$O/cuda" timeout 120 bash scripts/cuda-check.sh > "$O/cuda-compare.log" 2>&1
for spec in "fp32 256 224 -" "fp32 256 224 simt" "tf32 256 224 -" "tf32 256 224 tf32" "tf32 256 224 simt" \
    "fp32 1 224 -" "fp32 1 224 simt" "tf32 1 224 -" "tf32 64 384 -" "fp32 64 384 -" "bf16 256 224 -"; do
  read -r p b s a <<< "$spec"
  att=(); [ "$a" != - ] && att=(--attention "$a")
  echo "== $p b$b $s ${a}"
  timeout 60 node dist/bench/cuda-profile.js --model random:vit-base-patch16-224 --precision "$p" --batch "$b" --image-size "$s" "${att[@]}" \
    --out "$O/cuda/profile-$p-b$b-$s-$a.json" 2>&1 | grep -v '^  gemm'
done > "$O/cuda-profile.log" 2>&1
STEPS=vitb OUT="$O/cuda" timeout 150 bash scripts/cuda-check.sh > "$O/cuda-vitb.log" 2>&1
MODEL=.gpu-deit16 OUT="$O/cuda" timeout 90 bash scripts/cuda-deit-check.sh > "$O/cuda-deit.log" 2>&1
STEPS=model MODEL_LIMIT=240 OUT="$O/f16" timeout 250 bash scripts/webgpu-f16-check.sh > "$O/f16-model.log" 2>&1
tar -C "$O" -czf "$O/all.tgz" cuda f16 cuda-compare.log cuda-profile.log cuda-vitb.log cuda-deit.log f16-model.log
tail -12 "$O/cuda-compare.log"; grep -E '^(==|cuda|  attention)' "$O/cuda-profile.log"; tail -7 "$O/cuda-vitb.log" "$O/cuda-deit.log" | cut -c1-160
grep -E '^model' "$O/f16/"*.log "$O/f16-model.log" 2>/dev/null | sed 's/(webgpu.*//' | cut -c1-160
