#!/usr/bin/env bash
# One GPU-machine call (after `source .gpu/setup.sh`) for issues 10 and 11, in order of what matters most:
#   1 webgpu fp16 accuracy (scripts/webgpu-f16-check.sh STEPS=accuracy: DeiT-tiny photos and ViT-B random)
#   2 the peer run (bench/peers/run-all.sh: vit-webgpu fp32 + f16, vit-cuda fp32/tf32/bf16/fp16, PyTorch eager and
#     at its best on the same ViT-B/16 weights, batches $BATCHES at $SIZES)
#   3 where the time goes: cuda per stage at batch 256 (bench/cuda-profile.ts), webgpu per dispatch kind and the
#     attention kernels alone (webgpu-f16-check.sh STEPS=profile,attention)
# Everything lands in $OUT/all.tgz (the device tool returns 8 files); the table is printed last.
set -u
O=${OUT:-/tmp/vit-device-all}; mkdir -p "$O/f16" "$O/peers"
export PYTHONUNBUFFERED=1
STEPS=accuracy OUT="$O/f16" timeout 200 bash scripts/webgpu-f16-check.sh > "$O/f16-accuracy.log" 2>&1
STEPS=${PEER_STEPS:-export,compare,ours,cuda,torch,torchbest,combine} NO_ONNX=1 QUICK=1 BATCHES=${BATCHES:-1,64,256} SIZES=${SIZES:-224,384} OUT="$O/peers" \
  timeout "${PEERS_TIMEOUT:-330}" bash bench/peers/run-all.sh > "$O/peers.log" 2>&1
for p in ${PROFILE_PRECISIONS:-bf16 fp16}; do
  timeout 30 node dist/bench/cuda-profile.js --model /tmp/vit-peers-work/model --precision "$p" --batch 256 --out "$O/peers/cuda-profile-$p.json"
done > "$O/cuda-profile.log" 2>&1
STEPS=profile,attention OUT="$O/f16" timeout "${PROFILE_TIMEOUT:-150}" bash scripts/webgpu-f16-check.sh > "$O/f16-profile.log" 2>&1
tar -C "$O" -czf "$O/all.tgz" f16 peers f16-accuracy.log peers.log cuda-profile.log f16-profile.log
grep -E '^(precision|fp32 |fp16 )' "$O/f16-accuracy.log"; tail -25 "$O/peers/table.md" 2>/dev/null; grep -E '^profile|sgmat' "$O/f16-profile.log" | cut -c1-220
