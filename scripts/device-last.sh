#!/usr/bin/env bash
# A short GPU-machine call (after `source .gpu/setup.sh`): which attention the webgpu fp16 session runs and where
# its time goes, the peer run narrowed to batches 64 and 256 (webgpu fp32 + f16, cuda bf16 + fp16, PyTorch eager),
# and webgpu fp16 accuracy again. Everything in $OUT/all.tgz.
set -u
O=${OUT:-/tmp/vit-device-last}; mkdir -p "$O/f16" "$O/peers"
export PYTHONUNBUFFERED=1
node --input-type=module -e "
const { openModel } = await import('./dist/loaders/index.js');
const { createWebGPUSession, profilePlan } = await import('./dist/engine/webgpu/session.js');
for (const size of [224, 384]) {
  const s = await createWebGPUSession(await openModel('random:vit-base-patch16-224', { imageSize: [size, size] }), { precision: 'fp16' });
  console.log(s.describe());
  const b = size === 224 ? 256 : 64;
  const d = await profilePlan(s, new Float32Array(b * 3 * size * size).map((_, i) => Math.sin(i * 0.37) * 2), b);
  const k = new Map(); for (const { label, ms } of d) k.set(label.replace(/^block \d+ /, ''), (k.get(label.replace(/^block \d+ /, '')) ?? 0) + ms);
  console.log(size + 'px b' + b + ': ' + d.reduce((a, x) => a + x.ms, 0).toFixed(2) + ' ms = ' + [...k].sort((a, b) => b[1] - a[1]).map(([n, ms]) => n + ' ' + ms.toFixed(2)).join(', '));
  await s.dispose();
}
process.exit(0);" > "$O/f16-profile.log" 2>&1
STEPS=export,compare,ours,cuda,torch,combine NO_ONNX=1 BATCHES=64,256 SIZES=224,384 CUDA_PRECISIONS=bf16,fp16 OUT="$O/peers" \
  timeout "${PEERS_TIMEOUT:-200}" bash bench/peers/run-all.sh > "$O/peers.log" 2>&1
timeout 30 node dist/bench/cuda-profile.js --model /tmp/vit-peers-work/model --precision bf16 --batch 256 --out "$O/peers/cuda-profile-bf16.json" > "$O/cuda-profile.log" 2>&1
STEPS=accuracy OUT="$O/f16" timeout 150 bash scripts/webgpu-f16-check.sh > "$O/f16-accuracy.log" 2>&1
tar -C "$O" -czf "$O/all.tgz" f16 peers f16-profile.log peers.log cuda-profile.log f16-accuracy.log
grep -v '^Warning' "$O/f16-profile.log" | cut -c1-300; tail -22 "$O/peers/table.md" 2>/dev/null; head -12 "$O/cuda-profile.log"; grep -E '^(precision|fp32 |fp16 )' "$O/f16-accuracy.log"
