#!/usr/bin/env bash
# On the GPU machine: each cuda precision against fp32 (ours) and PyTorch's fp32/TF32/autocast (timm) on the real
# DeiT-tiny over every photo in test/photos, preprocessed by us. MODEL: the DeiT-tiny folder (timm layout).
set -u
O=${OUT:-/tmp/vit-cuda-check}; mkdir -p "$O"
M=${MODEL:-.gpu-deit}
{
  node scripts/photo-pixels.mjs --model "$M" --images test/photos --out /tmp/deit-pixels.safetensors
  python3 bench/peers/autocast_logits.py --model "$M" --pixels /tmp/deit-pixels.safetensors --out /tmp/deit-ref.safetensors
  node dist/bench/precision.js --model "$M" --ref /tmp/deit-ref.safetensors --out "$O/precision-deit.json"
} 2>&1 | tee "$O/cuda-deit-check.log"
