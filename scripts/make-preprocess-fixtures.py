#!/usr/bin/env python3
"""Reference preprocessing of the test photos by the real pipelines (PIL, timm, HF transformers).

Run on the GPU machine (its python3 has torch, torchvision, transformers, timm, pillow, safetensors):

    python3 scripts/make-preprocess-fixtures.py --out DIR

then copy DIR/preprocess-pil.safetensors to test/fixtures/. Checked by test/preprocess.test.ts.

Every image file in test/photos and test/photos/formats is opened as the reference pipelines see it:
Image.open(f), ImageOps.exif_transpose, .convert('RGB'). Stored tensors (all U8, H x W x 3, RGB):

  decoded/<file>          the decoded RGB. Small files (the formats/ samples) in full; for the photos
                          (lossless PNGs and JPEGs up to 600 px) a centred 128 x 128 window, whose
                          place is in __metadata__ "decoded_regions" {file: [top, left, h, w, H, W]}.
  hf224/<photo>           ViTImageProcessor() output (torchvision uint8 bilinear 224 x 224), mapped
                          back to the exact uint8 levels it normalised (x * 127.5 + 127.5, rounded;
                          the rounding error is checked to be < 1e-3 level).
  timm224/<photo>         timm eval transform, input 224, bicubic, crop_pct 0.9 (Resize 248 + CenterCrop),
                          mapped back to uint8 the same way (x * std + mean) * 255.
  timm224x320/<file>      timm eval, input (224, 320), bicubic, crop_pct 0.9: timm uses ResizeKeepRatio
                          (bilinear!) + CenterCrop for non-square inputs (subset FEW).
  hf256bicubic/<file>     ViTImageProcessor(size 256, resample BICUBIC) (subset FEW).
  timm384/<file>          timm eval, input 384, bicubic, crop_pct 1.0 (FEW[0] only).
  pil224bilinear/<file>   plain PIL Image.resize((224, 224), BILINEAR) (FEW[0] only).
  pil224nearest/<file>    plain PIL Image.resize((224, 224), NEAREST) (FEW[0] only).

Processed tensors are stored for the photos only (the formats/ samples reach the same resampling
code once decoded), which keeps the file near 5 MB. The float pixel values themselves are already
covered by test/fixtures/{deit-tiny,hf}-photos.safetensors.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.numpy import save_file

import PIL
import timm
import torchvision
import transformers
from timm.data import create_transform
from transformers import ViTImageProcessor

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif", ".tiff", ".avif", ".bmp"}
FEW = ["chelsea.png", "HappyFish.jpg"]  # a downscale and an upscale (259 x 194)
WINDOW = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def open_rgb(path):
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB"), mode


def to_u8(px, mean, std, scale, what):
    """Normalised CHW float -> the exact uint8 HWC levels it came from."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    lv = (px.double() * s + m) * scale
    r = lv.round()
    err = (lv - r).abs().max().item()
    if err > 1e-3 or r.min() < 0 or r.max() > 255:
        raise SystemExit(f"{what}: not uint8 levels (max rounding error {err:.2e})")
    return r.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--photos", default="test/photos")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    dirs = [a.photos, os.path.join(a.photos, "formats")]
    files = []
    for d in dirs:
        if os.path.isdir(d):
            files += sorted(os.path.relpath(os.path.join(d, f), a.photos) for f in os.listdir(d)
                            if os.path.splitext(f)[1].lower() in IMAGE_EXT)
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"PIL {PIL.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"transformers {transformers.__version__}, timm {timm.__version__}, cpu capability {cap}")

    hf = ViTImageProcessor()
    hf256 = ViTImageProcessor(size={"height": 256, "width": 256}, resample=Image.BICUBIC)
    t224 = create_transform(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.9,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD, is_training=False)
    t384 = create_transform(input_size=(3, 384, 384), interpolation="bicubic", crop_pct=1.0,
                            mean=IMAGENET_MEAN, std=IMAGENET_STD, is_training=False)
    t224x320 = create_transform(input_size=(3, 224, 320), interpolation="bicubic", crop_pct=0.9,
                                mean=IMAGENET_MEAN, std=IMAGENET_STD, is_training=False)
    print("timm 224:", t224)
    print("timm 224x320:", t224x320)

    tensors, regions, modes = {}, {}, {}
    for f in files:
        im, mode = open_rgb(os.path.join(a.photos, f))
        modes[f] = mode
        arr = np.asarray(im, dtype=np.uint8)
        H, W = arr.shape[:2]
        is_photo = os.path.dirname(f) == ""
        if is_photo and (H > WINDOW or W > WINDOW):
            h, w = min(WINDOW, H), min(WINDOW, W)
            top, left = (H - h) // 2, (W - w) // 2
        else:
            top, left, h, w = 0, 0, H, W
        regions[f] = [top, left, h, w, H, W]
        tensors[f"decoded/{f}"] = np.ascontiguousarray(arr[top:top + h, left:left + w])
        print(f"  {f}: PIL mode {mode} -> RGB {W}x{H}")
        if not is_photo:
            continue
        px = hf(images=im, return_tensors="pt")["pixel_values"][0]
        tensors[f"hf224/{f}"] = to_u8(px, (0.5,) * 3, (0.5,) * 3, 255, f"hf224/{f}")
        tensors[f"timm224/{f}"] = to_u8(t224(im), IMAGENET_MEAN, IMAGENET_STD, 255, f"timm224/{f}")
        if f in FEW:
            tensors[f"timm224x320/{f}"] = to_u8(t224x320(im), IMAGENET_MEAN, IMAGENET_STD, 255, f"timm224x320/{f}")
            px = hf256(images=im, return_tensors="pt")["pixel_values"][0]
            tensors[f"hf256bicubic/{f}"] = to_u8(px, (0.5,) * 3, (0.5,) * 3, 255, f"hf256bicubic/{f}")
        if f == FEW[0]:
            tensors[f"timm384/{f}"] = to_u8(t384(im), IMAGENET_MEAN, IMAGENET_STD, 255, f"timm384/{f}")
            tensors[f"pil224bilinear/{f}"] = np.asarray(im.resize((224, 224), Image.BILINEAR), dtype=np.uint8)
            tensors[f"pil224nearest/{f}"] = np.asarray(im.resize((224, 224), Image.NEAREST), dtype=np.uint8)

    meta = {
        "source": f"PIL {PIL.__version__} Image.open + ImageOps.exif_transpose + convert('RGB'); "
                  f"transformers {transformers.__version__} ViTImageProcessor; timm {timm.__version__} "
                  f"create_transform (torch {torch.__version__}, torchvision {torchvision.__version__})",
        "cpu_capability": cap,
        "files": json.dumps(files),
        "pil_modes": json.dumps(modes),
        "decoded_regions": json.dumps(regions),
    }
    out = os.path.join(a.out, "preprocess-pil.safetensors")
    save_file(tensors, out, metadata=meta)
    print(f"wrote {out}: {len(tensors)} tensors, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    sys.exit(main())
