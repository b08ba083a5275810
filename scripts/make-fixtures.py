#!/usr/bin/env python3
"""Reference fixtures made by the real implementations (HF transformers, timm, PIL).

Run on the GPU machine (its python3 has torch, transformers, timm, safetensors, pillow):

    PYTHONUNBUFFERED=1 python3 scripts/make-fixtures.py --out DIR [--deit PATH_TO_DEIT_DIR]

Writes, under DIR:
  models/hf-tiny/            HF ViTForImageClassification, random weights, F32 safetensors
  models/hf-tiny-bf16/       the same model stored as BF16
  models/hf-tiny-sharded/    the same F32 model as sharded safetensors + model.safetensors.index.json
  models/timm-tiny/          timm VisionTransformer (timm hub layout, config.json with model_args), F32
  models/timm-tiny-f16/      the same model stored as F16
  fixtures/<model>-<HxW>.safetensors   pixel_values F32 [N,3,H,W], logits F32 [N,K], __metadata__ source/files
  fixtures/pos-embed.safetensors       position-embedding resampling, both conventions, several grids
  fixtures/deit-tiny-photos.safetensors  real DeiT-tiny on real photos through timm's eval transform
  fixtures/hf-photos.safetensors       real photos through ViTImageProcessor, logits of hf-tiny

Logits are computed in float32 on the CPU (the reference implementations' own fp32 result); the
float64 gap is printed so the fp32 noise floor is on record.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file, load_file

import transformers
import timm
from transformers import ViTConfig, ViTForImageClassification
from timm.models.vision_transformer import VisionTransformer
from timm.layers import resample_abs_pos_embed

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

TINY = dict(hidden=96, layers=3, heads=4, mlp=192, classes=10, patch=16, image=224)
PHOTOS = ["chelsea.png", "coffee.png", "camera.png", "squirrel_cls.jpg"]
SIZES = {"224": (224, 224), "384": (384, 384), "224x320": (224, 320)}


def versions():
    return f"torch {torch.__version__}, transformers {transformers.__version__}, timm {timm.__version__}"


def randomize(model, seed):
    """Weights with O(1) activations, so logits are far from zero and tolerances mean something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "pos" in name or "cls" in name or "position" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def save_fixture(path, pixels, logits, source, files=None):
    meta = {"source": source}
    if files is not None:
        meta["files"] = json.dumps(files)
    save_file({"pixel_values": pixels.contiguous().float(), "logits": logits.contiguous().float()}, path, metadata=meta)
    print(f"  wrote {os.path.basename(path)}  pixels {tuple(pixels.shape)}  logits {tuple(logits.shape)}")


def margin_ok(logits):
    top2 = torch.topk(logits.double(), 2, dim=-1).values
    return bool(((top2[:, 0] - top2[:, 1]) > 1e-3).all())


def random_pixels(n, h, w, seed):
    """Pixels drawn as a normalised image would be: uint8 values through mean/std 0.5."""
    g = torch.Generator().manual_seed(seed)
    u8 = torch.randint(0, 256, (n, 3, h, w), generator=g).float()
    return (u8 / 255.0 - 0.5) / 0.5


def report_gap(name, f32, f64):
    d = (f32.double() - f64).abs().max().item()
    print(f"  {name}: max |fp32 - fp64| = {d:.3e}, max |logit| = {f64.abs().max().item():.3f}")


# ---------------------------------------------------------------- Hugging Face
def make_hf(out):
    cfg = ViTConfig(
        hidden_size=TINY["hidden"], num_hidden_layers=TINY["layers"], num_attention_heads=TINY["heads"],
        intermediate_size=TINY["mlp"], image_size=TINY["image"], patch_size=TINY["patch"], num_channels=3,
        hidden_act="gelu", layer_norm_eps=1e-12, qkv_bias=True, num_labels=TINY["classes"],
        id2label={i: f"hf-class-{i}" for i in range(TINY["classes"])},
        label2id={f"hf-class-{i}": i for i in range(TINY["classes"])},
    )
    model = ViTForImageClassification(cfg).eval()
    randomize(model, 1)
    d = os.path.join(out, "models", "hf-tiny")
    model.save_pretrained(d, safe_serialization=True)
    model.save_pretrained(os.path.join(out, "models", "hf-tiny-sharded"), safe_serialization=True, max_shard_size="200KB")
    try:
        from transformers import ViTImageProcessor
        proc = ViTImageProcessor()
        proc.save_pretrained(d)
        proc.save_pretrained(os.path.join(out, "models", "hf-tiny-sharded"))
    except Exception as e:  # noqa: BLE001
        print("  (no ViTImageProcessor:", e, ")")

    # BF16 storage: the same model rounded to bf16; the reference is fp32 compute on those values.
    bf = ViTForImageClassification(cfg).eval()
    bf.load_state_dict(model.state_dict())
    bf = bf.to(torch.bfloat16)
    bf.save_pretrained(os.path.join(out, "models", "hf-tiny-bf16"), safe_serialization=True)
    if os.path.exists(os.path.join(d, "preprocessor_config.json")):
        import shutil
        shutil.copy(os.path.join(d, "preprocessor_config.json"), os.path.join(out, "models", "hf-tiny-bf16"))
    bf32 = bf.float().eval()

    src = f"transformers {transformers.__version__} ViTForImageClassification (torch {torch.__version__}, CPU fp32)"
    for tag, (h, w), n in [("224", SIZES["224"], 1), ("384", SIZES["384"], 1), ("224x320", SIZES["224x320"], 1)]:
        for seed in range(100, 200):
            px = random_pixels(n, h, w, seed)
            with torch.no_grad():
                lg = model(px, interpolate_pos_encoding=(h, w) != (224, 224)).logits
            if margin_ok(lg):
                break
        with torch.no_grad():
            lg64 = model.double()(px.double(), interpolate_pos_encoding=(h, w) != (224, 224)).logits
            model.float()
        report_gap(f"hf-tiny {tag}", lg, lg64)
        save_fixture(os.path.join(out, "fixtures", f"hf-tiny-{tag}.safetensors"), px, lg, src)
        if tag in ("224", "224x320"):
            with torch.no_grad():
                lgb = bf32(px, interpolate_pos_encoding=(h, w) != (224, 224)).logits
            save_fixture(os.path.join(out, "fixtures", f"hf-tiny-bf16-{tag}.safetensors"), px, lgb,
                         src + ", weights stored as BF16")
    return model


# ---------------------------------------------------------------- timm
def timm_config(arch, model_args, num_classes, num_features):
    return {
        "architecture": arch,
        "num_classes": num_classes,
        "num_features": num_features,
        "global_pool": "token",
        "model_args": model_args,
        "pretrained_cfg": {
            "tag": "random",
            "input_size": [3, 224, 224],
            "fixed_input_size": True,
            "interpolation": "bicubic",
            "crop_pct": 0.9,
            "crop_mode": "center",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "num_classes": num_classes,
            "first_conv": "patch_embed.proj",
            "classifier": "head",
        },
    }


def make_timm(out):
    args = dict(embed_dim=TINY["hidden"], depth=TINY["layers"], num_heads=TINY["heads"],
                mlp_ratio=TINY["mlp"] / TINY["hidden"], num_classes=TINY["classes"])
    model = VisionTransformer(img_size=224, patch_size=16, dynamic_img_size=True, **args).eval()
    randomize(model, 2)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    cfg = timm_config("vit_tiny_patch16_224", args, TINY["classes"], TINY["hidden"])
    for name, dtype in [("timm-tiny", torch.float32), ("timm-tiny-f16", torch.float16)]:
        d = os.path.join(out, "models", name)
        os.makedirs(d, exist_ok=True)
        save_file({k: v.to(dtype) for k, v in sd.items()}, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    f16 = VisionTransformer(img_size=224, patch_size=16, dynamic_img_size=True, **args).eval()
    f16.load_state_dict({k: v.half().float() for k, v in sd.items()})

    src = f"timm {timm.__version__} VisionTransformer dynamic_img_size (torch {torch.__version__}, CPU fp32)"
    for tag, (h, w) in SIZES.items():
        for seed in range(300, 400):
            px = random_pixels(1, h, w, seed)
            with torch.no_grad():
                lg = model(px)
            if margin_ok(lg):
                break
        with torch.no_grad():
            lg64 = model.double()(px.double())
            model.float()
        report_gap(f"timm-tiny {tag}", lg, lg64)
        save_fixture(os.path.join(out, "fixtures", f"timm-tiny-{tag}.safetensors"), px, lg, src)
        if tag == "224":
            with torch.no_grad():
                lgf = f16(px)
            save_fixture(os.path.join(out, "fixtures", f"timm-tiny-f16-{tag}.safetensors"), px, lgf,
                         src + ", weights stored as F16")
    return model


# ---------------------------------------------------------------- position embeddings
def make_pos_embed(out, hf_model, timm_model):
    """Both frameworks' own resampling functions on the same random [1, 1+14*14, D] embedding."""
    pe = timm_model.pos_embed.detach().clone()  # [1, 197, D], class token first
    tensors = {"pos_embed": pe.contiguous()}
    emb = hf_model.vit.embeddings
    saved = emb.position_embeddings.detach().clone()
    with torch.no_grad():
        emb.position_embeddings.copy_(pe)
        for gh, gw in [(24, 24), (14, 20), (10, 10), (7, 9), (20, 14), (32, 32)]:
            hf = emb.interpolate_pos_encoding(torch.zeros(1, 1 + gh * gw, pe.shape[-1]), gh * 16, gw * 16)
            tm = resample_abs_pos_embed(pe, new_size=(gh, gw), old_size=(14, 14), num_prefix_tokens=1)
            tensors[f"hf_{gh}x{gw}"] = hf.contiguous().float()
            tensors[f"timm_{gh}x{gw}"] = tm.contiguous().float()
        emb.position_embeddings.copy_(saved)  # the HF model's own embedding back, for the photo logits
    meta = {"source": f"{versions()}: ViTEmbeddings.interpolate_pos_encoding and timm.layers.resample_abs_pos_embed"}
    save_file(tensors, os.path.join(out, "fixtures", "pos-embed.safetensors"), metadata=meta)
    print("  wrote pos-embed.safetensors:", ", ".join(k for k in tensors))


# ---------------------------------------------------------------- real photos
def make_photos(out, photos_dir, deit_dir, hf_model):
    from PIL import Image
    files = [f for f in PHOTOS if os.path.exists(os.path.join(photos_dir, f))]
    images = [Image.open(os.path.join(photos_dir, f)).convert("RGB") for f in files]

    # HF ViTImageProcessor (the checkpoint's own pipeline), logits of hf-tiny.
    try:
        from transformers import ViTImageProcessor
        proc = ViTImageProcessor()
        px = proc(images=images, return_tensors="pt")["pixel_values"]
        # PIL-only computation of the same thing, to say what the processor does.
        manual = torch.stack([
            (torch.from_numpy(np.asarray(im.resize((224, 224), Image.BILINEAR), dtype=np.float32)).permute(2, 0, 1) / 255.0 - 0.5) / 0.5
            for im in images])
        print(f"  {type(proc).__name__}: max |processor - PIL bilinear| = {(px - manual).abs().max().item():.3e}")
        with torch.no_grad():
            lg = hf_model(px).logits
        save_fixture(os.path.join(out, "fixtures", "hf-photos.safetensors"), px, lg,
                     f"transformers {transformers.__version__} {type(proc).__name__} + hf-tiny (CPU fp32)", files)
    except Exception as e:  # noqa: BLE001
        print("  hf photos skipped:", repr(e))

    if not deit_dir:
        return
    from timm.data import create_transform
    with open(os.path.join(deit_dir, "config.json")) as f:
        pc = json.load(f)["pretrained_cfg"]
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False).eval()
    model.load_state_dict(load_file(os.path.join(deit_dir, "model.safetensors")))
    tf = create_transform(input_size=tuple(pc["input_size"]), interpolation=pc["interpolation"], crop_pct=pc["crop_pct"],
                          crop_mode=pc["crop_mode"], mean=tuple(pc["mean"]), std=tuple(pc["std"]), is_training=False)
    print("  timm eval transform:", tf)
    px = torch.stack([tf(im) for im in images])
    with torch.no_grad():
        lg = model(px)
        lg64 = model.double()(px.double())
    report_gap("deit-tiny photos", lg, lg64)
    probs = lg.softmax(-1)
    for f, p in zip(files, probs):
        v, i = p.topk(2)
        print(f"    {f}: top1 {i[0].item()} p={v[0].item():.3f}  top2 {i[1].item()} p={v[1].item():.3f}")
    save_fixture(os.path.join(out, "fixtures", "deit-tiny-photos.safetensors"), px, lg,
                 f"timm {timm.__version__} deit_tiny_patch16_224 + timm eval transform (torch {torch.__version__}, CPU fp32)", files)

    # The same model at 384 (timm resamples the position embedding), on a photo whose label is close at 224.
    m384 = timm.create_model("deit_tiny_patch16_224", pretrained=False, dynamic_img_size=True).eval()
    m384.load_state_dict(load_file(os.path.join(deit_dir, "model.safetensors")))
    tf384 = create_transform(input_size=(3, 384, 384), interpolation=pc["interpolation"], crop_pct=pc["crop_pct"],
                             crop_mode=pc["crop_mode"], mean=tuple(pc["mean"]), std=tuple(pc["std"]), is_training=False)
    name = "orange.jpg"
    px = tf384(Image.open(os.path.join(photos_dir, name)).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        lg = m384(px)
    v, i = lg.softmax(-1)[0].topk(3)
    print(f"    {name} at 384: " + ", ".join(f"{a.item()} p={b.item():.3f}" for a, b in zip(i, v)))
    save_fixture(os.path.join(out, "fixtures", "deit-tiny-orange-384.safetensors"), px, lg,
                 f"timm {timm.__version__} deit_tiny_patch16_224 dynamic_img_size at 384 + timm eval transform (torch {torch.__version__}, CPU fp32)", [name])


# ---------------------------------------------------------------- features and distilled DeiT
def make_features(out, hf_model, timm_model):
    """Pooled features as the references define them: HF ViTModel last_hidden_state[:, 0] (after the final
    layernorm; not pooler_output) and its patch-token mean; timm forward_head(pre_logits=True) and the mean of
    forward_features over the patch tokens."""
    px = random_pixels(2, 224, 224, 500)
    with torch.no_grad():
        h = hf_model.vit(px).last_hidden_state
        f = timm_model.forward_features(px)
        timm_cls = timm_model.forward_head(f, pre_logits=True)
    src = f"transformers {transformers.__version__} ViTModel last_hidden_state (torch {torch.__version__}, CPU fp32)"
    tensors = {"pixel_values": px.contiguous(), "cls": h[:, 0].contiguous(), "mean": h[:, 1:].mean(1).contiguous()}
    save_file(tensors, os.path.join(out, "fixtures", "hf-tiny-features-224.safetensors"), metadata={"source": src})
    print("  wrote hf-tiny-features-224.safetensors")
    src = f"timm {timm.__version__} forward_head(pre_logits=True), forward_features mean (torch {torch.__version__}, CPU fp32)"
    n = timm_model.num_prefix_tokens
    tensors = {"pixel_values": px.contiguous(), "cls": timm_cls.contiguous(), "mean": f[:, n:].mean(1).contiguous()}
    save_file(tensors, os.path.join(out, "fixtures", "timm-tiny-features-224.safetensors"), metadata={"source": src})
    print("  wrote timm-tiny-features-224.safetensors")


def make_distilled(out):
    """A random timm distilled DeiT (dist_token, head_dist; eval logits = (head(cls) + head_dist(dist)) / 2)."""
    from timm.models.deit import VisionTransformerDistilled
    args = dict(embed_dim=TINY["hidden"], depth=TINY["layers"], num_heads=TINY["heads"],
                mlp_ratio=TINY["mlp"] / TINY["hidden"], num_classes=TINY["classes"])
    model = VisionTransformerDistilled(img_size=224, patch_size=16, **args).eval()
    randomize(model, 5)
    d = os.path.join(out, "models", "deit-distilled-tiny")
    os.makedirs(d, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(timm_config("deit_tiny_distilled_patch16_224", args, TINY["classes"], TINY["hidden"]), fh, indent=2)
    px = random_pixels(2, 224, 224, 600)
    with torch.no_grad():
        lg = model(px)
        f = model.forward_features(px)
        cls = model.forward_head(f, pre_logits=True)
        lg64 = model.double()(px.double())
        model.float()
    report_gap("deit-distilled-tiny 224", lg, lg64)
    src = f"timm {timm.__version__} VisionTransformerDistilled eval (torch {torch.__version__}, CPU fp32)"
    tensors = {"pixel_values": px.contiguous(), "logits": lg.contiguous(), "cls": cls.contiguous(),
               "mean": f[:, model.num_prefix_tokens:].mean(1).contiguous()}
    save_file(tensors, os.path.join(out, "fixtures", "deit-distilled-tiny-224.safetensors"), metadata={"source": src})
    print("  wrote deit-distilled-tiny-224.safetensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--photos", default="test/photos")
    ap.add_argument("--deit", default=None)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "fixtures"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "models"), exist_ok=True)
    torch.manual_seed(0)
    print(versions())
    print("HF:")
    hf = make_hf(a.out)
    print("timm:")
    tm = make_timm(a.out)
    print("position embeddings:")
    make_pos_embed(a.out, hf, tm)
    print("photos:")
    make_photos(a.out, a.photos, a.deit, hf)
    print("features:")
    make_features(a.out, hf, tm)
    print("distilled DeiT:")
    make_distilled(a.out)


if __name__ == "__main__":
    sys.exit(main())
