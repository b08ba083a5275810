#!/usr/bin/env python3
"""PyTorch's logits on given pixels at every precision our cuda backend offers (GPU machine).

  python3 bench/peers/autocast_logits.py --model DIR --pixels IN.safetensors --out OUT.safetensors [--arch NAME]
DIR holds a timm-layout model.safetensors (+ config.json naming the architecture). IN holds pixel_values
[N,3,H,W]. OUT gets pixel_values, logits (fp32, TF32 off), logits_tf32, logits_bf16 and logits_fp16 (autocast).
"""
import argparse
import json
import os

import timm
import torch
from safetensors.torch import load_file, save_file

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--pixels", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--arch")
a = ap.parse_args()
cfg = json.load(open(os.path.join(a.model, "config.json")))
arch = a.arch or cfg["architecture"]
state = load_file(os.path.join(a.model, "model.safetensors"))
model = timm.create_model(arch, pretrained=False, num_classes=cfg.get("num_classes", 1000), dynamic_img_size=True)
model.load_state_dict(state)
model = model.cuda().eval()
px = load_file(a.pixels)["pixel_values"].cuda()
out = {"pixel_values": px.cpu()}
with torch.inference_mode():
    for name, dtype, tf32 in (("logits", None, False), ("logits_tf32", None, True), ("logits_bf16", torch.bfloat16, False), ("logits_fp16", torch.float16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out[name] = torch.cat([model(px[i:i + 64]).float() for i in range(0, px.shape[0], 64)]).cpu()
save_file(out, a.out, metadata={"source": f"timm {timm.__version__} {arch} (torch {torch.__version__}, {torch.cuda.get_device_name(0)}): fp32, tf32, autocast bf16/fp16"})
print(f"autocast_logits: {arch} on {px.shape[0]} inputs -> {a.out}")
