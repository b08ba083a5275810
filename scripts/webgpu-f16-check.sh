#!/usr/bin/env bash
# On the GPU machine, after `source .gpu/setup.sh` (../shared/gpu/README.md), from the repository root with dist/
# built: the webgpu fp16 paths (issue 11). Each step runs whatever happened before it; logs and JSON go to $OUT.
#   1 adapter   features, subgroup sizes and subgroup-matrix configs with and without the f16 toggle       (~5 s)
#   2 gemm      every subgroup-matrix tile, SIMT f16 and fp32 on the ViT-B/16 shapes at batch 256, 64, 1:
#               sampled rows vs float64, then TFLOP/s per shape (the tile per shape is chosen from this)  (~90 s)
#   3 model     ViT-B/16 224 end to end: fp32, fp16 auto, SIMT, SIMT attention, per GEMM tile and attention
#               shape, at batch 64 and 256                                                                  (~60 s)
#   3b profile  device ms per kind of dispatch (fp16, fp16 with SIMT attention, fp32)                        (~40 s)
#   3c attention the attention kernels alone (SIMT BQ x BKV, subgroup-matrix W x CH)                         (~40 s)
#   4 compare   vit compare --precision fp16 on every committed fixture (f16 bar atol = rtol = 5e-3)        (~15 s)
#   5 accuracy  real DeiT-tiny on every photo, and ViT-B/16 random: ours fp16 vs ours fp32 beside PyTorch autocast
#               fp16 vs PyTorch fp32 on the same pixels (bench/precision.ts)                                 (~60 s)
#   6 bench     vit bench webgpu fp32,fp16 x batch 1,64,128,256 x 224,384, 2 s each                         (~120 s)
#   7 summary   one table, printed last
# STEPS picks steps (comma-separated names above). Expected total ~5-6 minutes. Each step has its own time limit so one hang cannot eat the others' time.
set -u
O=${OUT:-/tmp/vit-f16-check}; mkdir -p "$O"
V="node dist/cli/vit.js"
C="node dist/bench/webgpu-f16-check.js"
F=test/fixtures
STEPS=${STEPS:-adapter,gemm,model,profile,attention,compare,accuracy,bench}
on() { [[ ",$STEPS," == *",$1,"* ]]; }
step() { # name, limit (s), command...
  local name=$1 limit=$2; shift 2
  echo "== $name"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@"; local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
}
{
  on adapter && step adapter 60 $C adapter --out "$O/adapter.json"
  on gemm && step gemm 200 $C gemm --out "$O/gemm.json"
  on model && step model ${MODEL_LIMIT:-150} $C model --out "$O/model.json"
  on profile && step profile 150 $C profile --out "$O/profile.json"
  on attention && step attention 120 $C attention --out "$O/attention.json"
  on compare && { echo "== compare --precision fp16 (f16 bar: atol = rtol = 5e-3)"
  for pair in hf-tiny:hf-tiny-224 hf-tiny:hf-tiny-384 hf-tiny:hf-tiny-224x320 hf-tiny-bf16:hf-tiny-bf16-224 \
      timm-tiny:timm-tiny-224 timm-tiny:timm-tiny-384 timm-tiny:timm-tiny-224x320 timm-tiny-f16:timm-tiny-f16-224 hf-tiny:hf-photos; do
    m=${pair%%:*}; f=${pair#*:}
    [ -f $F/$f.safetensors ] && [ -d $F/models/$m ] || { echo "$f: not carried here"; continue; }
    printf '%-14s %-20s ' "$m" "$f"
    timeout 60 $V compare --backend webgpu --precision fp16 --atol 5e-3 --rtol 5e-3 --model $F/models/$m --fixture $F/$f.safetensors > "$O/compare-$f.log" 2>&1
    echo "exit $? $(grep -E '^(PASS|FAIL)' "$O/compare-$f.log" || tail -1 "$O/compare-$f.log")"
  done
  grep -h '^backend' "$O"/compare-*.log | sort -u; }
  on accuracy && {
  # Accuracy on the same inputs as PyTorch (bench/precision.ts): ours fp16 vs ours fp32, PyTorch autocast fp16 vs
  # PyTorch fp32. DEIT: a DeiT-tiny folder (timm layout) over every photo in test/photos; then ViT-B/16 random.
  for d in "${DEIT:-}" .gpu-deit16 .gpu-deit shared/models/deit-tiny-patch16-224 ../shared/models/deit-tiny-patch16-224; do
    [ -n "$d" ] && [ -f "$d/model.safetensors" ] && DEIT=$d && break
  done
  if [ -f "${DEIT:-}/model.safetensors" ]; then
    echo "== accuracy: DeiT-tiny ($DEIT) on test/photos, ours fp32/fp16 vs PyTorch fp32/autocast fp16"
    node scripts/photo-pixels.mjs --model "$DEIT" --images test/photos --out /tmp/deit-pixels.safetensors &&
      timeout 120 python3 bench/peers/autocast_logits.py --model "$DEIT" --pixels /tmp/deit-pixels.safetensors --out /tmp/deit-ref.safetensors &&
      timeout 120 node dist/bench/precision.js --backend webgpu --precisions fp32,fp16 --model "$DEIT" --ref /tmp/deit-ref.safetensors --out "$O/precision-deit.json"
  else
    echo "== accuracy: skipped (no DeiT-tiny: set DEIT=<dir>)"
  fi
  echo "== accuracy: ViT-B/16 random weights, 64 random inputs"
  P=/tmp/vit-f16-work; mkdir -p $P
  [ -f $P/model/model.safetensors ] || timeout 120 python3 bench/peers/export_vit_b.py --out $P --no-onnx > $P/export.log 2>&1
  timeout 60 python3 -c "import torch; from safetensors.torch import save_file; g=torch.Generator().manual_seed(7); save_file({'pixel_values': torch.randn(64,3,224,224,generator=g).clamp(-2.5,2.5)}, '$P/vitb-pixels.safetensors')" &&
    timeout 120 python3 bench/peers/autocast_logits.py --model $P/model --pixels $P/vitb-pixels.safetensors --out $P/vitb-ref.safetensors &&
    timeout 180 node dist/bench/precision.js --backend webgpu --precisions fp32,fp16 --model $P/model --ref $P/vitb-ref.safetensors --out "$O/precision-vitb.json"; }
  on bench && step bench 330 $V bench --model random:vit-base-patch16-224 --backend webgpu --precision ${BENCH_PRECISIONS:-fp32,fp16} --batch-size ${BENCH_BATCHES:-1,64,128,256} \
    --image-size 224,384 --duration 2 --format json --output "$O/bench.json"
} 2>&1 | tee "$O/f16-check.log"
echo "== summary" | tee -a "$O/f16-check.log"
$C summary --dir "$O" 2>&1 | tee "$O/summary.txt"
