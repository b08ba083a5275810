#!/usr/bin/env bash
# On the GPU machine (device tool), after `source .gpu/setup.sh`: the cuda backend's library discovery,
# fp32 conformance on every committed fixture (`vit compare --backend cuda --precision fp32`), each precision
# against fp32 and against PyTorch's own on ViT-B/16 random weights, per-stage profiles and a quick bench.
# Writes logs and JSON under $OUT. STEPS picks parts (default: all).
set -u
O=${OUT:-/tmp/vit-cuda-check}; P=/tmp/vit-cuda-work; mkdir -p "$O" "$P"
V="node dist/cli/vit.js"
F=test/fixtures
STEPS=${STEPS:-libs,compare,vitb,profile,bench}
on() { [[ ",$STEPS," == *",$1,"* ]]; }
{
  on libs && { echo "== libraries"
    node --input-type=module -e "const { CudaApi } = await import('./dist/engine/cuda/driver.js'); const api = await CudaApi.get(); console.log(JSON.stringify(api.report)); console.log(JSON.stringify(api.device(0)));"; }
  on compare && { echo "== vit compare --backend cuda --precision fp32 (atol=rtol=1e-4)"
    for pair in hf-tiny:hf-tiny-224 hf-tiny:hf-tiny-384 hf-tiny:hf-tiny-224x320 hf-tiny-bf16:hf-tiny-bf16-224 \
        hf-tiny-bf16:hf-tiny-bf16-224x320 hf-tiny-sharded:hf-tiny-224 timm-tiny:timm-tiny-224 timm-tiny:timm-tiny-384 \
        timm-tiny:timm-tiny-224x320 timm-tiny-f16:timm-tiny-f16-224 hf-tiny:hf-photos; do
      m=${pair%%:*}; f=${pair#*:}
      [ -f $F/$f.safetensors ] || { echo "$f: not here"; continue; }
      printf '%-16s %-22s ' "$m" "$f"; $V compare --backend cuda --precision fp32 --model $F/models/$m --fixture $F/$f.safetensors | tail -1
    done; }
  on vitb && { echo "== ViT-B/16 random: PyTorch fp32/tf32/autocast vs ours at each precision"
    [ -f $P/model/model.safetensors ] || python3 bench/peers/export_vit_b.py --out $P --no-onnx
    python3 -c "import torch; from safetensors.torch import save_file; g=torch.Generator().manual_seed(7); save_file({'pixel_values': torch.randn(64,3,224,224,generator=g).clamp(-2.5,2.5)}, '$P/vitb-pixels.safetensors')"
    python3 bench/peers/autocast_logits.py --model $P/model --pixels $P/vitb-pixels.safetensors --out $P/vitb-ref.safetensors
    node dist/bench/precision.js --model $P/model --ref $P/vitb-ref.safetensors --out "$O/precision-vitb.json"; }
  on profile && { echo "== where the time goes (ViT-B/16 224, batch 256)"
    for p in ${PROFILE_PRECISIONS:-bf16 fp16 tf32}; do node dist/bench/cuda-profile.js --model $P/model --precision $p --batch 256 --out "$O/profile-$p.json"; done
    node dist/bench/cuda-profile.js --model $P/model --precision bf16 --batch 1 --out "$O/profile-bf16-b1.json"; }
  on bench && { echo "== vit bench --backend cuda (model mode)"
    $V bench --model $P/model --backend cuda --precision ${BENCH_PRECISIONS:-fp32,tf32,bf16,fp16} --workers 1 --batch-size ${BENCH_BATCHES:-1,64,256} --image-size ${BENCH_SIZES:-224} \
      --warmup 2 --duration 2 --format json --output "$O/bench-cuda.json"; }
} 2>&1 | tee "$O/cuda-check.log"
