#!/usr/bin/env bash
# GPU-machine calls (after `source .gpu/setup.sh`) for issues 10 and 11 together, in two parts (STEPS):
#   accuracy  cuda fp32 on the carried fixtures, every cuda precision against fp32 and PyTorch on ViT-B random
#             inputs and the DeiT-tiny photos (DEIT folder; scripts/cuda-check.sh compare,vitb,
#             scripts/cuda-deit-check.sh), webgpu fp16 conformance and accuracy against PyTorch autocast
#             (scripts/webgpu-f16-check.sh compare,accuracy; NO_WEBGPU=1 skips it), the cuda per-stage split
#             (bf16 at 224 b256 and 384 b64, tf32 and fp32 at 224 b256)                                 (~4 min)
#   pins      the cuda direct-upload check: equal logits, and ms per batch of 256 copied vs direct      (~20 s)
#   peers     pins, then the peer run (bench/peers/run-all.sh: vit-webgpu fp32 + f16,
#             vit-cuda fp32/tf32/bf16/fp16 with batch-1 latency one call at a time, PyTorch eager and at its
#             best; batches 1/64/256 at 224/384)                                                         (~6 min)
# Everything in $OUT/all.tgz; the table is printed last.
set -u
O=${OUT:-/tmp/vit-device-final}; mkdir -p "$O/peers" "$O/f16" "$O/cuda"
export PYTHONUNBUFFERED=1
STEPS=${STEPS:-accuracy,peers}
on() { [[ ",$STEPS," == *",$1,"* ]]; }
DEIT=${DEIT:-.gpu-deit16}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader > "$O/gpu.txt"
if on accuracy; then
  { STEPS=compare,vitb OUT="$O/cuda" timeout 170 bash scripts/cuda-check.sh; MODEL=$DEIT OUT="$O/cuda" timeout 90 bash scripts/cuda-deit-check.sh; } > "$O/cuda-accuracy.log" 2>&1
  [ -n "${NO_WEBGPU:-}" ] || DEIT=$DEIT STEPS=compare,accuracy OUT="$O/f16" timeout 200 bash scripts/webgpu-f16-check.sh > "$O/f16.log" 2>&1
  for spec in "bf16 256 224" "bf16 64 384" "tf32 256 224" "fp32 256 224"; do
    read -r p b s <<< "$spec"
    timeout 40 node dist/bench/cuda-profile.js --model random:vit-base-patch16-224 --precision $p --batch $b --image-size $s --out "$O/cuda/profile-$p-b$b-$s.json"
  done > "$O/cuda-profile.log" 2>&1
fi
if on peers || on pins; then
  # Direct uploads from a page-locked SharedArrayBuffer (HostPins, opt-in by reusedInput): the second run pins and
  # checks the buffer, the third (direct) must equal the first (copied).
  timeout 60 node --input-type=module -e "
const { openModel } = await import('./dist/loaders/index.js');
const { createCudaSession } = await import('./dist/engine/cuda/session.js');
const s = await createCudaSession(await openModel('random:vit-base-patch16-224'), { precision: 'bf16' });
const px = new Float32Array(new SharedArrayBuffer(64 * 3 * 224 * 224 * 4)); for (let i = 0; i < px.length; i++) px[i] = Math.sin(i * 0.37) * 2;
const a = await s.run(px, 64); await s.run(px, 64, { reusedInput: true }); const c = await s.run(px, 64, { reusedInput: true });
const same = a.every((v, i) => Object.is(v, c[i]));
console.log('host pins: ' + (s.state.pins.disabled ?? 'on, verified ' + s.state.pins.verified) + '; pinned run equals copied run: ' + same);
const big = new Float32Array(new SharedArrayBuffer(256 * 3 * 224 * 224 * 4)); big.set(px);
for (const reusedInput of [false, true, false, true]) {
  await s.run(big, 256, { reusedInput }); const t0 = performance.now();
  for (let i = 0; i < 10; i++) await s.run(big, 256, { reusedInput });
  console.log('batch 256, one call at a time, ' + (reusedInput ? 'direct' : 'copied') + ': ' + ((performance.now() - t0) / 10).toFixed(2) + ' ms per call');
}
await s.dispose(); process.exit(same ? 0 : 1);" > "$O/pins.log" 2>&1
fi
if on peers; then
  STEPS=${PEER_STEPS:-export,compare,ours,cuda,torch,torchbest,combine} NO_ONNX=1 QUICK=1 BATCHES=${BATCHES:-1,64,256} SIZES=${SIZES:-224,384} OUT="$O/peers" \
    timeout "${PEERS_TIMEOUT:-400}" bash bench/peers/run-all.sh > "$O/peers.log" 2>&1
fi
tar -C "$O" -czf "$O/all.tgz" $(cd "$O" && ls -d gpu.txt peers f16 cuda *.log 2>/dev/null)
cat "$O/gpu.txt"
on accuracy && { grep -E '^(precision|fp32 |tf32 |bf16 |fp16 )|PASS|FAIL' "$O/cuda-accuracy.log" | cut -c1-150; grep -E '^(PASS|FAIL|fp32 |fp16 )|exit|path' "$O/f16.log" | cut -c1-150; grep -E 'graph|attention' "$O/cuda-profile.log" | cut -c1-160; }
{ on peers || on pins; } && cat "$O/pins.log"
on peers && tail -40 "$O/peers/table.md" 2>/dev/null
