#!/usr/bin/env bash
# On the GPU machine (device tool), after `source .gpu/setup.sh` (see ../shared/gpu/README.md): WebGPU
# conformance on every committed fixture through `vit compare --backend webgpu`, `vit classify` and `vit bench`
# end to end, and the two GPU pool layouts (GPU workers decoding vs decode-only workers feeding one GPU worker).
# Writes logs and JSON under $OUT.
set -u
O=${OUT:-/tmp/vit-gpu-check}; mkdir -p "$O"
V="node dist/cli/vit.js"
F=test/fixtures
{
  echo "== adapter"
  node --input-type=module -e "const m = await import('./dist/engine/webgpu/device.js'); const a = await m.describeAdapter(); console.log(a && a.description, a && a.vendor, a && a.features.join(' '))"
  echo "== vit compare --backend webgpu (default tolerances atol=rtol=1e-4)"
  for pair in hf-tiny:hf-tiny-224 hf-tiny:hf-tiny-384 hf-tiny:hf-tiny-224x320 hf-tiny-bf16:hf-tiny-bf16-224 \
      hf-tiny-bf16:hf-tiny-bf16-224x320 hf-tiny-sharded:hf-tiny-224 timm-tiny:timm-tiny-224 timm-tiny:timm-tiny-384 \
      timm-tiny:timm-tiny-224x320 timm-tiny-f16:timm-tiny-f16-224 hf-tiny:hf-photos; do
    m=${pair%%:*}; f=${pair#*:}
    printf '%-16s %-22s ' "$m" "$f"; $V compare --backend webgpu --model $F/models/$m --fixture $F/$f.safetensors | tail -1
  done
  echo "== vit classify --backend webgpu (timm-tiny on test/photos)"
  $V classify test/photos --model $F/models/timm-tiny --backend webgpu --format jsonl --no-progress > "$O/classify-webgpu.jsonl"; echo "exit $?"
  $V classify test/photos --model $F/models/timm-tiny --backend wasm --format jsonl --no-progress > "$O/classify-wasm.jsonl"; echo "exit $?"
  echo "== vit bench --backend webgpu, ViT-B/16 random, model mode"
  $V bench --model random:vit-base-patch16-224 --backend webgpu --workers 1,2 --batch-size 64 --duration 3 --format json --output "$O/bench-webgpu-workers.json"
  echo "== end to end (decode + preprocess + forward): GPU workers decode their own batches"
  $V bench --model random:vit-base-patch16-224 --backend webgpu --mode end-to-end --images test/photos --workers 1,2,4 --preprocess-workers 0 --batch-size 32 --duration 4 --format json --output "$O/e2e-gpu-workers.json"
  echo "== end to end: one GPU worker fed by decode-only workers"
  $V bench --model random:vit-base-patch16-224 --backend webgpu --mode end-to-end --images test/photos --workers 1 --preprocess-workers 4 --batch-size 32 --duration 4 --format json --output "$O/e2e-fed-4.json"
  $V bench --model random:vit-base-patch16-224 --backend webgpu --mode end-to-end --images test/photos --workers 1 --preprocess-workers 12 --batch-size 32 --duration 4 --format json --output "$O/e2e-fed-12.json"
} 2>&1 | tee "$O/gpu-check.log"
