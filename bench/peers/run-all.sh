#!/usr/bin/env bash
# The peer comparison, in one call on the GPU machine (after `source .gpu/setup.sh`), writing under $OUT:
# timm ViT-B/16 random weights exported for every engine, our logits checked against PyTorch's on it, then
# vit-webgpu (fp32) and vit-webgpu-f16, vit-cuda (each precision), PyTorch eager (fp32 / TF32 / bf16 / fp16 autocast), PyTorch at its best
# (cast weights, torch.compile, CUDA graphs) and onnxruntime-node (WebGPU and CPU EPs) timed on the same weights,
# merged into results.json with a Markdown table. STEPS picks steps; BATCHES, SIZES, WEBGPU_PRECISIONS, CUDA_PRECISIONS narrow them. Needs bench/peers/node_modules (onnxruntime-node,
# linux-x64 files only): `npm install --ignore-scripts` in bench/peers, or the tarball given as $1.
set -u
O=${OUT:-/tmp/vit-peers}; P=/tmp/vit-peers-work; mkdir -p "$O" "$P"
[ -n "${1:-}" ] && tar -C bench/peers -xJf "$1"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
STEPS=${STEPS:-export,compare,ours,cuda,torch,torchbest,ort,combine}
BATCHES=${BATCHES:-1,16,64,128,256}; SIZES=${SIZES:-224,384}
on() { [[ ",$STEPS," == *",$1,"* ]]; }
{
  on export && { echo "== export (timm vit_base_patch16_224, seeded random weights)"; python3 bench/peers/export_vit_b.py --out "$P" ${NO_ONNX:+--no-onnx}; }
  on compare && { echo "== our logits vs PyTorch fp32 on that model"
    on ours && node dist/cli/vit.js compare --backend webgpu --model "$P/model" --fixture "$P/fixture-224.safetensors"
    on cuda && node dist/cli/vit.js compare --backend cuda --precision fp32 --model "$P/model" --fixture "$P/fixture-224.safetensors"; }
  on ours && echo "== vit-webgpu" && node dist/cli/vit.js bench --model "$P/model" --backend webgpu --precision "${WEBGPU_PRECISIONS:-fp32,fp16}" --workers 1 --batch-size "$BATCHES" --image-size "$SIZES" \
    --warmup 2 --duration 2 --format json --output "$O/ours.json"
  on cuda && echo "== vit-cuda" && node dist/cli/vit.js bench --model "$P/model" --backend cuda --precision "${CUDA_PRECISIONS:-fp32,tf32,bf16,fp16}" --workers 1 \
    --batch-size "$BATCHES" --image-size "$SIZES" --warmup 3 --duration 2 --format json --output "$O/ours-cuda.json"
  # Batch-1 latency: one call at a time (the throughput runs keep two in flight, which share the GPU).
  on cuda && [[ ",$BATCHES," == *",1,"* ]] && echo "== vit-cuda batch-1 latency" && node dist/cli/vit.js bench --model "$P/model" --backend cuda \
    --precision "${CUDA_PRECISIONS:-fp32,tf32,bf16,fp16}" --workers 1 --batch-size 1 --in-flight 1 --image-size "$SIZES" --warmup 5 --duration 2 \
    --format json --output "$O/ours-cuda-latency.json"
  on torch && { echo "== torch"; python3 bench/peers/torch_bench.py --model "$P/model" --out "$O/torch.json" --batches "$BATCHES" --sizes "$SIZES"; }
  on torchbest && { echo "== torch at its best"; python3 bench/peers/torch_best.py --out "$O/torch-best.json" ${AUTOTUNE:+--autotune} ${QUICK:+--quick}; }
  on ort && { echo "== onnxruntime-node"; node bench/peers/ort_bench.mjs --dir "$P" --out "$O/ort.json" --gpu "$GPU" --sizes "${ORT_SIZES:-224,384}"; }
  on combine && node bench/peers/combine.mjs --ours "$O/ours.json" --ours "$O/ours-cuda.json" --ours "$O/ours-cuda-latency.json" --torch "$O/torch.json" --torch "$O/torch-best.json" \
    --ort "$O/ort.json" --gpu "$GPU" --out "$O/results.json" | tee "$O/table.md"
} 2>&1 | tee "$O/peers.log"
