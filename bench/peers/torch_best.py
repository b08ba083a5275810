#!/usr/bin/env python3
"""Peers, PyTorch at its best on ViT-B/16 (timm, random init): what a GPU user could pick instead of autocast.

  python3 bench/peers/torch_best.py --out rows.json [--autotune]
Rows {"engine", "batchSize", "imageSize", "imagesPerSecond", "gpu"}: eager with weights cast to bf16/fp16
(torch-cast-bf16/fp16), torch.compile of the cast model (torch-compile-bf16), CUDA graphs through
torch.compile(mode="reduce-overhead") at small batches (torch-graphs-bf16), and with --autotune
torch.compile(mode="max-autotune") at batch 256 (slow to compile: ~90 s). Inputs already on the GPU, as in
torch_bench.py; host-clock timing over >= 20 batches after warm-up, synchronised.
"""
import argparse
import json
import time

import timm
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--autotune", action="store_true")
ap.add_argument("--quick", action="store_true", help="fewer rows: cast bf16 at 1/64/256, compile bf16 at 256, CUDA graphs at 1, 384 cast at 64")
a = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = True
gpu = torch.cuda.get_device_name(0)
rows = []


def timeit(fn, x, reps):
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            fn(x)
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps


def run(size, plan):
    name = "vit_base_patch16_224" if size == 224 else "vit_base_patch16_384"
    for engine, dtype, kind, batches in plan:
        m = timm.create_model(name, pretrained=False).cuda().eval().to(dtype)
        fn = m if kind == "eager" else torch.compile(m, mode={"compile": "default", "graphs": "reduce-overhead", "autotune": "max-autotune"}[kind])
        for bs in batches:
            x = torch.randn(bs, 3, size, size, device="cuda", dtype=dtype)
            try:
                dt = timeit(fn, x, 20 if bs >= 64 else 50)
                row = {"engine": engine, "batchSize": bs, "imageSize": size, "imagesPerSecond": round(bs / dt, 1), "gpu": gpu}
            except Exception as e:  # a compile failure is a row, not the end of the run
                row = {"engine": engine, "batchSize": bs, "imageSize": size, "imagesPerSecond": None, "gpu": gpu, "error": f"{type(e).__name__}: {str(e)[:160]}"}
            print(json.dumps(row), flush=True)
            rows.append(row)
        del m, fn
        torch.cuda.empty_cache()


bf, fp = torch.bfloat16, torch.float16
if a.quick:
    run(224, [("torch-cast-bf16", bf, "eager", (1, 64, 256)), ("torch-compile-bf16", bf, "compile", (256,)), ("torch-graphs-bf16", bf, "graphs", (1,))])
    run(384, [("torch-cast-bf16", bf, "eager", (64,))])
else:
  run(224, [("torch-cast-bf16", bf, "eager", (1, 64, 256)), ("torch-cast-fp16", fp, "eager", (1, 64, 256)),
          ("torch-compile-bf16", bf, "compile", (1, 64, 256)), ("torch-graphs-bf16", bf, "graphs", (1, 16))]
    + ([("torch-autotune-bf16", bf, "autotune", (256,))] if a.autotune else []))
  run(384, [("torch-cast-bf16", bf, "eager", (64,)), ("torch-compile-bf16", bf, "compile", (64,))])
with open(a.out, "w") as f:
    json.dump(rows, f, indent=1)
