#!/usr/bin/env bash
# A short GPU-machine call (after `source .gpu/setup.sh`): vit doctor, the PyTorch feature / distilled-DeiT
# fixtures, and cuda bf16/fp16 against PyTorch eager autocast at batch 64 and 256 (ViT-B/16 224, same weights).
set -u
O=${OUT:-/tmp/vit-device-final}; P=/tmp/vit-peers-work; mkdir -p "$O" "$P"
export PYTHONUNBUFFERED=1
node dist/cli/vit.js doctor > "$O/doctor.txt" 2>&1; echo "doctor exit $?" >> "$O/doctor.txt"
python3 bench/peers/export_vit_b.py --out "$P" --no-onnx > /dev/null
node dist/cli/vit.js bench --model "$P/model" --backend cuda --precision bf16,fp16 --batch-size 64,256 --warmup 3 --duration 2 --format json --output "$O/ours-cuda.json"
python3 bench/peers/torch_bench.py --model "$P/model" --out "$O/torch.json" --engines torch-bf16,torch-fp16 --batches 64,256 --sizes 224
node bench/peers/combine.mjs --ours "$O/ours-cuda.json" --torch "$O/torch.json" --out "$O/results.json" | tee "$O/table.md"
mkdir -p /tmp/fx && timeout "${FIXTURE_TIMEOUT:-80}" python3 scripts/make-fixtures.py --out /tmp/fx > /tmp/fx/make-fixtures-features.log 2>&1
for m in hf-tiny timm-tiny; do cmp -s "/tmp/fx/models/$m/model.safetensors" "test/fixtures/models/$m/model.safetensors" && echo "$m: regenerated model identical" || echo "$m: regenerated model DIFFERS"; done >> /tmp/fx/make-fixtures-features.log
tar -C /tmp/fx -cf "$O/fixtures-new.tar" make-fixtures-features.log $(cd /tmp/fx && ls fixtures/*features* fixtures/deit-distilled* 2>/dev/null) models/deit-distilled-tiny 2>/dev/null
echo "device-final: done"
