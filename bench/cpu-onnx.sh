#!/usr/bin/env bash
# The CPU comparison of issue 14 in one sitting: onnxruntime's own number (bench/peers/ort_cpu_peer.mjs, no
# vit-engine pool) next to `vit bench` on the onnx backend (workers, threads, int8), wasm, the end-to-end
# directory job, and the README's main job; merged by bench/cpu-onnx-combine.mjs into one JSON and a table.
#   bash bench/cpu-onnx.sh bench/results/DATE-cpu-onnx      (writes DATE-cpu-onnx.json and .md)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/cpu-onnx.sh OUT_PREFIX}
W=$(mktemp -d)
SEC=${SEC:-15}
VIT="node dist/cli/vit.js"
B="$VIT bench --model random:vit-base-patch16-224 --batch-size 8 --duration $SEC --format json"
DEIT=${DEIT:-../shared/models/deit-tiny-patch16-224}
set -x
node bench/peers/ort_cpu_peer.mjs --graphs plain,fused --threads 1,2 --batch 8 --seconds "$SEC" --out "$W/peer.json"
$B --backend onnx --workers 1,2 --output "$W/onnx.json"
$B --backend onnx --workers 1 --threads 2 --output "$W/onnx-threads.json"
$B --backend onnx --precision int8 --workers 1,2 --output "$W/onnx-int8.json"
$B --backend onnx --mode end-to-end --images test/photos --workers 1,2 --output "$W/onnx-e2e.json"
$VIT bench --model random:vit-base-patch16-224 --batch-size 8 --duration $((SEC * 2)) --format json --backend wasm --workers 1 --output "$W/wasm.json"
$VIT bench --model "$DEIT" --backend onnx,wasm --workers 1,2 --batch-size 8 --duration "$SEC" --format json --output "$W/deit.json"
$VIT classify test/photos --model "$DEIT" --no-progress > "$W/classify-onnx.txt" 2> "$W/classify-onnx.err"
$VIT classify test/photos --model "$DEIT" --backend wasm --no-progress > "$W/classify-wasm.txt" 2> "$W/classify-wasm.err"
set +x
node bench/cpu-onnx-combine.mjs "$W" "$OUT"
rm -rf "$W"
