#!/usr/bin/env bash
# On the GPU machine, after `source .gpu/setup.sh` (../shared/gpu/README.md), from the repository root with dist/
# built: the webgpu fp16 paths (issue 11). Each step runs whatever happened before it; logs and JSON go to $OUT.
#   1 adapter   features, subgroup sizes and subgroup-matrix configs with and without the f16 toggle       (~5 s)
#   2 gemm      every subgroup-matrix tile, SIMT f16 and fp32 on the ViT-B/16 shapes at batch 256, 64, 1:
#               sampled rows vs float64, then TFLOP/s per shape (the tile per shape is chosen from this)  (~90 s)
#   3 model     ViT-B/16 224 end to end per tile (f16Tile), auto, SIMT f16, fp32 at batch 64 and 256       (~60 s)
#   4 compare   vit compare --precision fp16 on every committed fixture (f16 bar atol = rtol = 5e-3)        (~15 s)
#   5 accuracy  real DeiT-tiny photos, if the model is here: ours fp16 vs fp32 and vs timm, PyTorch autocast
#               fp16 vs PyTorch fp32 on the same pixels                                                    (~20 s)
#   6 bench     vit bench webgpu fp32,fp16 x batch 1,64,128,256 x 224,384, 2 s each                         (~120 s)
#   7 summary   one table, printed last
# Expected total ~5-6 minutes. Each step has its own time limit so one hang cannot eat the others' time.
set -u
O=${OUT:-/tmp/vit-f16-check}; mkdir -p "$O"
V="node dist/cli/vit.js"
C="node dist/bench/webgpu-f16-check.js"
F=test/fixtures
step() { # name, limit (s), command...
  local name=$1 limit=$2; shift 2
  echo "== $name"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@"; local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
}
{
  step adapter 60 $C adapter --out "$O/adapter.json"
  step gemm 200 $C gemm --out "$O/gemm.json"
  step model 150 $C model --out "$O/model.json"
  echo "== compare --precision fp16 (f16 bar: atol = rtol = 5e-3)"
  for pair in hf-tiny:hf-tiny-224 hf-tiny:hf-tiny-384 hf-tiny:hf-tiny-224x320 hf-tiny-bf16:hf-tiny-bf16-224 \
      timm-tiny:timm-tiny-224 timm-tiny:timm-tiny-384 timm-tiny:timm-tiny-224x320 timm-tiny-f16:timm-tiny-f16-224 hf-tiny:hf-photos; do
    m=${pair%%:*}; f=${pair#*:}
    printf '%-14s %-20s ' "$m" "$f"
    timeout 60 $V compare --backend webgpu --precision fp16 --atol 5e-3 --rtol 5e-3 --model $F/models/$m --fixture $F/$f.safetensors > "$O/compare-$f.log" 2>&1
    echo "exit $? $(grep -E '^(PASS|FAIL)' "$O/compare-$f.log" || tail -1 "$O/compare-$f.log")"
  done
  grep -h '^backend' "$O"/compare-*.log | sort -u
  # DeiT-tiny (timm layout): $DEIT, or shared/models/deit-tiny-patch16-224 here or one level up.
  for d in "${DEIT:-}" shared/models/deit-tiny-patch16-224 ../shared/models/deit-tiny-patch16-224; do
    [ -n "$d" ] && [ -f "$d/model.safetensors" ] && DEIT=$d && break
  done
  [ -f "${DEIT:-}/model.safetensors" ] || DEIT=
  if [ -n "$DEIT" ]; then
    for p in fp32 fp16; do
      echo "== accuracy: ours $p vs timm fp32, DeiT-tiny photos (bar atol = rtol = 2e-2)"
      timeout 120 $V compare --backend webgpu --precision $p --atol 2e-2 --rtol 2e-2 --model "$DEIT" --fixture $F/deit-tiny-photos.safetensors > "$O/deit-$p.log" 2>&1
      echo "exit $?"; grep -E '^(backend|row|PASS|FAIL)' "$O/deit-$p.log"
    done
    echo "== accuracy: PyTorch autocast fp16 vs fp32 (same pixels)"
    timeout 120 python3 - "$DEIT" "$F/deit-tiny-photos.safetensors" > "$O/deit-torch.log" 2>&1 <<'PY'
import sys, torch, timm
from safetensors.torch import load_file
model_dir, fx = sys.argv[1], sys.argv[2]
torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32
m = timm.create_model('deit_tiny_patch16_224', pretrained=False, num_classes=1000)
m.load_state_dict(load_file(f'{model_dir}/model.safetensors')); m = m.eval().cuda()
t = load_file(fx); px = t['pixel_values'].float().cuda(); ref = t['logits'].float()
with torch.no_grad():
    f32 = m(px).float().cpu()
    with torch.autocast('cuda', dtype=torch.float16):
        f16 = m(px).float().cpu()
p = torch.softmax(f32, -1).topk(2).values; sure = (p[:, 0] - p[:, 1]) > 0.05
print(f'torch fp32 vs fixture: max|diff| {(f32 - ref).abs().max():.3e}')
print(f'torch autocast fp16 vs torch fp32: max|diff| {(f16 - f32).abs().max():.3e}, top-1 equal {int((f16.argmax(-1) == f32.argmax(-1)).sum())}/{len(f32)} ({int(sure.sum())} with margin > 0.05, equal there: {bool((f16.argmax(-1) == f32.argmax(-1))[sure].all())})')
PY
    echo "exit $?"; cat "$O/deit-torch.log"
  else
    echo "== accuracy: skipped (no DeiT-tiny: set DEIT=<dir> or carry shared/models/deit-tiny-patch16-224)"
  fi
  step bench 330 $V bench --model random:vit-base-patch16-224 --backend webgpu --precision fp32,fp16 --batch-size 1,64,128,256 \
    --image-size 224,384 --duration 2 --format json --output "$O/bench.json"
} 2>&1 | tee "$O/f16-check.log"
echo "== summary" | tee -a "$O/f16-check.log"
$C summary --dir "$O" 2>&1 | tee "$O/summary.txt"
