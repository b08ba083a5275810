#!/usr/bin/env bash
# The peer comparison, in one call on the GPU machine (after `source .gpu/setup.sh`), writing under $OUT:
# timm ViT-B/16 random weights exported for every engine, our logits checked against PyTorch's on it, then
# vit-webgpu, PyTorch eager (fp32 / TF32 / bf16) and onnxruntime-node (WebGPU and CPU EPs) timed on the same
# weights, merged into results.json with a Markdown table. Needs bench/peers/node_modules (onnxruntime-node,
# linux-x64 files only): `npm install --ignore-scripts` in bench/peers, or the tarball given as $1.
set -u
O=${OUT:-/tmp/vit-peers}; P=/tmp/vit-peers-work; mkdir -p "$O" "$P"
[ -n "${1:-}" ] && tar -C bench/peers -xJf "$1"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
STEPS=${STEPS:-export,compare,ours,torch,ort,combine}
on() { [[ ",$STEPS," == *",$1,"* ]]; }
{
  on export && { echo "== export (timm vit_base_patch16_224, seeded random weights)"; python3 bench/peers/export_vit_b.py --out "$P"; }
  on compare && { echo "== our logits vs PyTorch fp32 on that model"
    node dist/cli/vit.js compare --backend webgpu --model "$P/model" --fixture "$P/fixture-224.safetensors"; }
  on ours && echo "== vit-webgpu" && node dist/cli/vit.js bench --model "$P/model" --backend webgpu --workers 1 --batch-size 1,16,64,128,256 --image-size 224,384 \
    --warmup 2 --duration 2 --format json --output "$O/ours.json"
  on torch && { echo "== torch"; python3 bench/peers/torch_bench.py --model "$P/model" --out "$O/torch.json"; }
  on ort && { echo "== onnxruntime-node"; node bench/peers/ort_bench.mjs --dir "$P" --out "$O/ort.json" --gpu "$GPU" --sizes "${ORT_SIZES:-224,384}"; }
  on combine && node bench/peers/combine.mjs --ours "$O/ours.json" --torch "$O/torch.json" --ort "$O/ort.json" --gpu "$GPU" --out "$O/results.json" | tee "$O/table.md"
} 2>&1 | tee "$O/peers.log"
