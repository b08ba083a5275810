/**
 * Image -> model input (CHW float32), reproducing the checkpoint's own preprocessing:
 *
 * - mode 'resize' (HF ViTImageProcessor, transformers 5 torchvision backend): resize straight to
 *   [H, W] with torchvision's native uint8 antialiased kernel (Pillow's algorithm with int16
 *   weights; transformers 4's PIL path differs by at most 1 level in a few pixels), then the fused
 *   rescale + normalise (x - mean / rescale) / (std / rescale) in float32.
 * - mode 'resize-crop' (timm eval transform, torchvision transforms on a PIL image): square sizes
 *   resize the shortest edge to floor(size / cropPct) (long edge int(s * long / short)) with the
 *   configured filter; non-square sizes use timm's ResizeKeepRatio, which ignores the configured
 *   interpolation and always resizes *bilinearly* to round(x / min(h / th, w / tw)). Then
 *   torchvision CenterCrop (offsets round((size - crop) / 2), half to even; zero padding when the
 *   crop is larger), ToTensor (v / 255 in float32) and Normalize ((x - mean) / std in float32).
 *
 * Resampling is Pillow-exact (engine/pil-resize.ts); only the cropped window is computed.
 * Decoding (engine/decode.ts) gives what PIL's Image.open(f).convert('RGB') gives, plus EXIF
 * orientation.
 */
import type { PreprocessConfig } from '../model/config.js';
import { decodeImage, type DecodedImage } from './decode.js';
import { resizeRgb, type OutputWindow, type WeightQuantization } from './pil-resize.js';

export { decodeImage, ImageDecodeError, type DecodedImage } from './decode.js';

export interface PreprocessOptions {
  /**
   * Fixed-point weights of the resampler. Default: 'torch-u8' for mode 'resize' (what
   * transformers >= 5 runs on x86 CPUs), 'pil' for 'resize-crop' (timm resizes PIL images).
   */
  quantization?: WeightQuantization;
}

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface ResizeCropPlan {
  /** Size [height, width] the whole image is resized to. */
  resize: [number, number];
  interpolation: PreprocessConfig['interpolation'];
  /** Row/column of the resized image at the crop's top-left (negative: zero padding). */
  top: number;
  left: number;
  crop: [number, number];
}

/** The timm eval geometry (resize target, filter, crop offsets) for an image of height x width. */
export function resizeCropPlan(
  height: number,
  width: number,
  size: [number, number],
  cropPct: number,
  interpolation: PreprocessConfig['interpolation'],
): ResizeCropPlan {
  const [th, tw] = size;
  let resize: [number, number];
  if (th === tw) {
    // torchvision Resize(int): shortest edge to s, long edge int(s * long / short).
    const s = Math.floor(th / cropPct);
    const long = Math.trunc((s * Math.max(height, width)) / Math.min(height, width));
    resize = width <= height ? [long, s] : [s, long];
  } else {
    // timm ResizeKeepRatio(longest=0), built without its interpolation argument: bilinear.
    const ratio = Math.min(height / Math.floor(th / cropPct), width / Math.floor(tw / cropPct));
    resize = [roundHalfEven(height / ratio), roundHalfEven(width / ratio)];
    interpolation = 'bilinear';
  }
  // torchvision center_crop: pad (left/top gets floor of the excess), else round((n - c) / 2).
  const offset = (n: number, c: number): number => (c > n ? -Math.floor((c - n) / 2) : roundHalfEven((n - c) / 2));
  return { resize, interpolation, top: offset(resize[0], th), left: offset(resize[1], tw), crop: [th, tw] };
}

/** Per-channel lookup tables uint8 level -> normalised float32 value, as the reference computes it. */
function normalizeLut(cfg: PreprocessConfig): Float32Array {
  const f = Math.fround;
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    if (cfg.mode === 'resize') {
      // transformers TorchvisionBackend: mean and std tensors (float32) times 1 / rescale_factor.
      const k = f(1 / cfg.rescale);
      const m = f(f(cfg.mean[c]) * k);
      const s = f(f(cfg.std[c]) * k);
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(v - m) / s);
    } else {
      // ToTensor divides by 255 in float32; Normalize subtracts and divides in float32.
      const byDiv = Math.abs(cfg.rescale * 255 - 1) < 1e-12;
      const m = f(cfg.mean[c]);
      const s = f(cfg.std[c]);
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f((byDiv ? f(v / 255) : f(v * cfg.rescale)) - m) / s);
    }
  }
  return lut;
}

/** RGB HWC uint8 -> CHW float32 through the normalisation tables. */
function toChw(rgb: Uint8Array, h: number, w: number, lut: Float32Array): Float32Array {
  const n = h * w;
  const out = new Float32Array(3 * n);
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    out[i] = lut[rgb[p]];
    out[n + i] = lut[256 + rgb[p + 1]];
    out[2 * n + i] = lut[512 + rgb[p + 2]];
  }
  return out;
}

/** The uint8 RGB image the model input is made from (after resize, and crop for 'resize-crop'). */
export function resizeForModel(
  img: DecodedImage,
  cfg: PreprocessConfig,
  size: [number, number] = cfg.size,
  opts: PreprocessOptions = {},
): DecodedImage {
  const [th, tw] = size;
  if (!(Number.isInteger(th) && Number.isInteger(tw) && th > 0 && tw > 0)) {
    throw new RangeError(`preprocess: bad size ${JSON.stringify(size)}`);
  }
  if (cfg.mode === 'resize') {
    return resizeRgb(img, tw, th, cfg.interpolation, { quantization: opts.quantization ?? 'torch-u8' });
  }
  if (!(cfg.cropPct > 0)) throw new RangeError(`preprocess: bad cropPct ${cfg.cropPct}`);
  const plan = resizeCropPlan(img.height, img.width, size, cfg.cropPct, cfg.interpolation);
  const [rh, rw] = plan.resize;
  // Part of the crop that lies inside the resized image; the rest is zero padding.
  const y0 = Math.max(plan.top, 0);
  const x0 = Math.max(plan.left, 0);
  const win: OutputWindow = { x: x0, y: y0, w: Math.min(plan.left + tw, rw) - x0, h: Math.min(plan.top + th, rh) - y0 };
  const part = resizeRgb(img, rw, rh, plan.interpolation, { quantization: opts.quantization ?? 'pil', window: win });
  if (win.w === tw && win.h === th) return part;
  const data = new Uint8Array(th * tw * 3);
  for (let y = 0; y < win.h; y++) {
    const d = ((y0 - plan.top + y) * tw + (x0 - plan.left)) * 3;
    data.set(part.data.subarray(y * win.w * 3, (y + 1) * win.w * 3), d);
  }
  return { width: tw, height: th, data };
}

/** Decoded RGB -> CHW float32 [3 * H * W] for the model; `size` overrides cfg.size. */
export function preprocessDecoded(
  img: DecodedImage,
  cfg: PreprocessConfig,
  size: [number, number] = cfg.size,
  opts: PreprocessOptions = {},
): Float32Array {
  const r = resizeForModel(img, cfg, size, opts);
  return toChw(r.data, r.height, r.width, normalizeLut(cfg));
}

/** Decode `file` (a path, or the encoded bytes of an image) and preprocess it (see preprocessDecoded). */
export async function preprocessImage(
  file: string | Uint8Array,
  cfg: PreprocessConfig,
  size?: [number, number],
  opts?: PreprocessOptions,
): Promise<Float32Array> {
  const target = size ?? cfg.size;
  const input = typeof file === 'string' || Buffer.isBuffer(file) ? file : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const img = await decodeImage(input, undefined, { target: { size: target, cropPct: cfg.mode === 'resize-crop' ? cfg.cropPct : 1 } });
  return preprocessDecoded(img, cfg, size, opts);
}
