#!/usr/bin/env python3
"""Peers, PyTorch eager on the GPU: fp32 (TF32 off), TF32, bf16 and fp16 autocast; same timm ViT-B/16 weights.

  python3 bench/peers/torch_bench.py --model DIR/model --out rows.json [--batches 1,16,64,128,256] [--sizes 224,384]
Each row: {"engine", "batchSize", "imageSize", "imagesPerSecond", "gpu"}; CUDA-event timing over >= 1 s after warm-up.
"""
import argparse
import json
import os

import timm
import torch
from safetensors.torch import load_file

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--batches", default="1,16,64,128,256")
ap.add_argument("--sizes", default="224,384")
ap.add_argument("--engines", default="torch-fp32,torch-tf32,torch-bf16,torch-fp16")
a = ap.parse_args()
gpu = torch.cuda.get_device_name(0)
model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000, dynamic_img_size=True)
model.load_state_dict(load_file(os.path.join(a.model, "model.safetensors")))
model = model.cuda().eval()
rows = []
for engine in a.engines.split(","):
    torch.backends.cuda.matmul.allow_tf32 = engine == "torch-tf32"
    torch.backends.cudnn.allow_tf32 = engine == "torch-tf32"
    for size in map(int, a.sizes.split(",")):
        for bs in map(int, a.batches.split(",")):
            x = torch.randn(bs, 3, size, size, device="cuda")
            try:
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16 if engine == "torch-fp16" else torch.bfloat16, enabled=engine in ("torch-bf16", "torch-fp16")):
                    for _ in range(3):
                        model(x)
                    torch.cuda.synchronize()
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    n, ms = 0, 0.0
                    start.record()
                    while n < 5 or ms < 1000:
                        model(x)
                        n += 1
                        if n % 5 == 0:
                            end.record()
                            torch.cuda.synchronize()
                            ms = start.elapsed_time(end)
                    end.record()
                    torch.cuda.synchronize()
                    ms = start.elapsed_time(end)
                row = {"engine": engine, "batchSize": bs, "imageSize": size, "imagesPerSecond": round(bs * n / (ms / 1000), 1), "gpu": gpu}
            except torch.OutOfMemoryError:
                row = {"engine": engine, "batchSize": bs, "imageSize": size, "imagesPerSecond": None, "gpu": gpu, "error": "out of memory"}
            print(json.dumps(row), flush=True)
            rows.append(row)
with open(a.out, "w") as f:
    json.dump(rows, f, indent=1)
