#!/usr/bin/env python3
"""Peers, step 1 (GPU machine): timm vit_base_patch16_224 with seeded random weights, saved for every engine.

  python3 bench/peers/export_vit_b.py --out DIR
writes DIR/model/{model.safetensors,config.json} (timm hub layout, for our engine), DIR/vit-b-224.onnx and
DIR/vit-b-384.onnx (onnxruntime-node), DIR/fixture-224.safetensors (pixel_values + PyTorch fp32 CPU logits, for
`vit compare` on the GPU).
"""
import argparse
import json
import os

import timm
from timm.layers import resample_abs_pos_embed
import torch
from safetensors.torch import save_file

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX exports (onnxruntime peers)")
a = ap.parse_args()
os.makedirs(os.path.join(a.out, "model"), exist_ok=True)
torch.manual_seed(0)
model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000, dynamic_img_size=True).eval()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(a.out, "model", "model.safetensors"), metadata={"format": "pt"})
cfg = {"architecture": "vit_base_patch16_224", "num_classes": 1000, "num_features": 768, "global_pool": "token",
       "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
                          "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "num_classes": 1000}}
with open(os.path.join(a.out, "model", "config.json"), "w") as f:
    json.dump(cfg, f)

g = torch.Generator().manual_seed(1)
px = torch.randn(2, 3, 224, 224, generator=g)
with torch.no_grad():
    logits = model(px)
save_file({"pixel_values": px, "logits": logits.float()}, os.path.join(a.out, "fixture-224.safetensors"),
          metadata={"source": f"timm {timm.__version__} vit_base_patch16_224 random (torch {torch.__version__}, CPU fp32)"})

for size in (() if a.no_onnx else (224, 384)):
    # A static model per size: timm's dynamic-size path traces an antialiased bicubic resize, which ONNX
    # opset 17 cannot express; at 384 the position embedding is resampled once here, as timm's loader does.
    static = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000, img_size=size).eval()
    sd = dict(model.state_dict())
    sd["pos_embed"] = resample_abs_pos_embed(sd["pos_embed"], new_size=(size // 16, size // 16), num_prefix_tokens=1)
    static.load_state_dict(sd)
    dummy = torch.randn(1, 3, size, size)
    torch.onnx.export(static, (dummy,), os.path.join(a.out, f"vit-b-{size}.onnx"), input_names=["pixel_values"],
                      output_names=["logits"], dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    print(f"exported vit-b-{size}.onnx", flush=True)
