#!/usr/bin/env bash
# One GPU-machine call (after `source .gpu/setup.sh`) for issue 10's claims: every cuda precision against fp32 and
# PyTorch on ViT-B random inputs and the DeiT-tiny photos (DEIT folder), then the peer run (bench/peers/run-all.sh:
# vit-webgpu fp32 + f16, vit-cuda fp32/tf32/bf16/fp16, PyTorch eager and at its best, batches 1/64/256 at 224/384),
# then the per-stage split of fp32 and tf32. Everything in $OUT/all.tgz; the table is printed last.
set -u
O=${OUT:-/tmp/vit-device-cuda}; mkdir -p "$O/cuda" "$O/peers"
export PYTHONUNBUFFERED=1
# Direct uploads from a page-locked SharedArrayBuffer (HostPins): the third run (pinned) must equal the first (copied).
timeout 60 node --input-type=module -e "
const { openModel } = await import('./dist/loaders/index.js');
const { createCudaSession } = await import('./dist/engine/cuda/session.js');
const s = await createCudaSession(await openModel('random:vit-base-patch16-224'), { precision: 'bf16' });
const px = new Float32Array(new SharedArrayBuffer(64 * 3 * 224 * 224 * 4)); for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37) * 2;
const a = await s.run(px, 64); await s.run(px, 64); const c = await s.run(px, 64);
const same = a.every((v, i) => Object.is(v, c[i]));
console.log('host pins: ' + (s.state.pins.disabled ?? 'on, verified ' + s.state.pins.verified) + '; pinned run equals copied run: ' + same);
await s.dispose(); process.exit(same ? 0 : 1);" > "$O/pins.log" 2>&1
{ STEPS=vitb OUT="$O/cuda" timeout 150 bash scripts/cuda-check.sh; MODEL=${DEIT:-.gpu-deit16} OUT="$O/cuda" timeout 90 bash scripts/cuda-deit-check.sh; } > "$O/accuracy.log" 2>&1
STEPS=${PEER_STEPS:-export,compare,ours,cuda,torch,torchbest,combine} NO_ONNX=1 QUICK=1 BATCHES=${BATCHES:-1,64,256} SIZES=${SIZES:-224,384} OUT="$O/peers" \
  timeout "${PEERS_TIMEOUT:-340}" bash bench/peers/run-all.sh > "$O/peers.log" 2>&1
for p in fp32 tf32; do
  timeout 40 node dist/bench/cuda-profile.js --model /tmp/vit-peers-work/model --precision "$p" --batch 256 --out "$O/peers/cuda-profile-$p.json"
done > "$O/cuda-profile.log" 2>&1
tar -C "$O" -czf "$O/all.tgz" cuda peers pins.log accuracy.log peers.log cuda-profile.log
tail -3 "$O/pins.log"; grep -E '^(precision|fp32 |tf32 |bf16 |fp16 )' "$O/accuracy.log"; grep -E 'graph|attention' "$O/cuda-profile.log" | cut -c1-200; tail -30 "$O/peers/table.md" 2>/dev/null
