/**
 * Preprocessing against the reference pipelines:
 *  - test/fixtures/deit-tiny-photos.safetensors: timm eval transform (bicubic, crop_pct 0.9, 224, ImageNet mean/std)
 *  - test/fixtures/hf-photos.safetensors: transformers 5.17 ViTImageProcessor() (bilinear 224 x 224, mean/std 0.5)
 *  - test/fixtures/preprocess-pil.safetensors (scripts/make-preprocess-fixtures.py; skipped when absent):
 *    PIL's decode of every photo and format sample, and the uint8 images behind several pipelines.
 * plus an independent float reference of the resampler, decoder behaviour and error messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { PreprocessConfig } from '../model/config.js';
import {
  decodeImage,
  preprocessDecoded,
  preprocessImage,
  resizeCropPlan,
  resizeForModel,
  roundHalfEven,
  type DecodedImage,
} from '../engine/preprocess.js';
import { cmykToRgb } from '../engine/decode.js';
import { resizeRgb, type ResampleFilter } from '../engine/pil-resize.js';
import { readSafetensorsHeader, type SafetensorsHeader } from '../loaders/safetensors/header.js';
import { readTensorF32 } from '../loaders/safetensors/read.js';

const PHOTOS = fileURLToPath(new URL('./photos/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const PIL_FIXTURE = join(FIXTURES, 'preprocess-pil.safetensors');
const HAVE_PIL_FIXTURE = existsSync(PIL_FIXTURE);
if (!HAVE_PIL_FIXTURE) {
  console.warn(`skipping the PIL-fixture tests: ${PIL_FIXTURE} is absent (make it with scripts/make-preprocess-fixtures.py)`);
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const timmCfg = (size: [number, number] = [224, 224], cropPct = 0.9): PreprocessConfig => ({
  mode: 'resize-crop',
  size,
  cropPct,
  interpolation: 'bicubic',
  rescale: 1 / 255,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
});
const hfCfg = (size: [number, number] = [224, 224], interpolation: PreprocessConfig['interpolation'] = 'bilinear'): PreprocessConfig => ({
  mode: 'resize',
  size,
  cropPct: 1,
  interpolation,
  rescale: 1 / 255,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
});

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'preprocess-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Raw U8 tensor of a safetensors file (loaders/safetensors reads float dtypes only). */
async function readU8(h: SafetensorsHeader, name: string): Promise<{ shape: number[]; data: Uint8Array }> {
  const info = h.tensors.get(name);
  if (!info) throw new Error(`${h.path}: no tensor ${name}`);
  if (info.dtype !== 'U8') throw new Error(`${h.path}: ${name} is ${info.dtype}, expected U8`);
  const data = new Uint8Array(info.end - info.begin);
  const fh = await open(h.path, 'r');
  try {
    await fh.read(data, 0, data.length, h.dataStart + info.begin);
  } finally {
    await fh.close();
  }
  return { shape: info.shape, data };
}

interface Diff {
  max: number;
  mean: number;
  /** Elements that differ by more than `tol`. */
  count: number;
}
function diff(a: ArrayLike<number>, b: ArrayLike<number>, tol = 0): Diff {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
    if (d > tol) count++;
  }
  return { max, mean: sum / a.length, count };
}

/** Normalised CHW -> uint8 levels (as float), inverting (v * rescale - mean) / std. */
function levels(x: Float32Array, cfg: PreprocessConfig, hw: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / hw);
    out[i] = (x[i] * cfg.std[c] + cfg.mean[c]) / cfg.rescale;
  }
  return out;
}

// ------------------------------------------------------------- independent references

/**
 * Pillow's resampling written from its definition in double precision: separable convolution with
 * the filter stretched by the scale when downscaling, horizontal pass rounded and clipped to uint8,
 * then the vertical pass (no fixed-point weights, no window logic, no skipping of passes).
 */
function floatResize(img: DecodedImage, outW: number, outH: number, filter: 'bilinear' | 'bicubic'): Float64Array {
  const kernel = (x: number): number => {
    x = Math.abs(x);
    if (filter === 'bilinear') return x < 1 ? 1 - x : 0;
    if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
    return x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0;
  };
  const support = filter === 'bilinear' ? 1 : 2;
  const weights = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const fs = Math.max(scale, 1);
    return Array.from({ length: outSize }, (_, i) => {
      const center = (i + 0.5) * scale;
      const lo = Math.max(Math.trunc(center - support * fs + 0.5), 0);
      const hi = Math.min(Math.trunc(center + support * fs + 0.5), inSize);
      const w: number[] = [];
      for (let j = lo; j < hi; j++) w.push(kernel((j - center + 0.5) / fs));
      const s = w.reduce((a, b) => a + b, 0);
      return { lo, w: w.map((v) => v / s) };
    });
  };
  const wx = weights(img.width, outW);
  const wy = weights(img.height, outH);
  const tmp = new Float64Array(img.height * outW * 3);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < outW; x++)
      for (let c = 0; c < 3; c++) {
        let s = 0;
        wx[x].w.forEach((w, k) => (s += w * img.data[(y * img.width + wx[x].lo + k) * 3 + c]));
        tmp[(y * outW + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(s)));
      }
  const out = new Float64Array(outH * outW * 3);
  for (let y = 0; y < outH; y++)
    for (let i = 0; i < outW * 3; i++) {
      let s = 0;
      wy[y].w.forEach((w, k) => (s += w * tmp[(wy[y].lo + k) * outW * 3 + i]));
      out[y * outW * 3 + i] = Math.min(255, Math.max(0, Math.round(s)));
    }
  return out;
}

describe('resampler (engine/pil-resize.ts) against a float reference', () => {
  it.each([
    ['bilinear', 224, 224],
    ['bicubic', 372, 248],
    ['bicubic', 640, 500], // upscaling
    ['bilinear', 451, 200], // one pass skipped
  ] as const)('%s to %ix%i: within 1-2 uint8 levels of exact arithmetic', async (filter, w, h) => {
    const img = await decodeImage(join(PHOTOS, 'chelsea.png'));
    for (const quantization of ['pil', 'torch-u8'] as const) {
      const got = resizeRgb(img, w, h, filter as ResampleFilter, { quantization });
      const d = diff(got.data, floatResize(img, w, h, filter));
      // Fixed-point weights only move values that sit near a rounding boundary, rarely. Pillow's
      // 22-bit weights: at most 1 level. torchvision's int16 weights have 14-16 fractional bits,
      // and with bicubic's negative lobes an intermediate 1-level slip can grow to 2 levels.
      console.log(`${filter} ${w}x${h} ${quantization}: max |uint8 - float reference| ${d.max}, ${d.count} of ${d.count && got.data.length} differ`);
      expect(d.max, `${quantization}: ${JSON.stringify(d)}`).toBeLessThanOrEqual(quantization === 'pil' ? 1 : 2);
      expect(d.count / got.data.length).toBeLessThan(0.01);
    }
  });

  it('a window of the output is bit-identical to the full output cropped', async () => {
    const img = await decodeImage(join(PHOTOS, 'squirrel_cls.jpg'));
    for (const filter of ['bicubic', 'bilinear', 'nearest'] as const) {
      const full = resizeRgb(img, 311, 248, filter);
      const win = { x: 43, y: 12, w: 224, h: 224 };
      const part = resizeRgb(img, 311, 248, filter, { window: win });
      for (let y = 0; y < win.h; y++) {
        const a = part.data.subarray(y * win.w * 3, (y + 1) * win.w * 3);
        const s = ((win.y + y) * 311 + win.x) * 3;
        expect(Buffer.compare(Buffer.from(a), Buffer.from(full.data.subarray(s, s + win.w * 3))), `${filter} row ${y}`).toBe(0);
      }
    }
  });

  it('same size is a copy; nearest picks pixel floor((x + 0.5) * scale)', async () => {
    const img = await decodeImage(join(PHOTOS, 'HappyFish.jpg'));
    expect(resizeRgb(img, img.width, img.height, 'bicubic').data).toEqual(img.data);
    const out = resizeRgb(img, 100, 77, 'nearest');
    for (const [x, y] of [[0, 0], [99, 76], [37, 51]]) {
      const sx = Math.floor(((x + 0.5) * img.width) / 100);
      const sy = Math.floor(((y + 0.5) * img.height) / 77);
      expect(Array.from(out.data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3))).toEqual(
        Array.from(img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3)),
      );
    }
  });
});

describe('geometry', () => {
  it('Python round and torchvision/timm resize-crop sizes', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
    // int(248 * 451 / 300) = 372; crop offsets round((372 - 224) / 2) = 74, 12.
    const p = resizeCropPlan(300, 451, [224, 224], 0.9, 'bicubic');
    expect(p.resize).toEqual([248, Math.trunc((248 * 451) / 300)]);
    expect([p.top, p.left]).toEqual([12, 74]);
    // Crop larger than the image: zero padding on both sides, the smaller half first.
    const q = resizeCropPlan(100, 100, [224, 224], 2, 'bicubic');
    expect(q.resize).toEqual([112, 112]);
    expect([q.top, q.left]).toEqual([-56, -56]);
  });

  it('padding is zero pixels normalised like torchvision CenterCrop + Normalize', async () => {
    const img = await decodeImage(join(PHOTOS, 'HappyFish.jpg'));
    const x = preprocessDecoded(img, timmCfg([224, 224], 2));
    const hw = 224 * 224;
    for (let c = 0; c < 3; c++) expect(x[c * hw]).toBeCloseTo(-IMAGENET_MEAN[c] / IMAGENET_STD[c], 6);
  });
});

// ------------------------------------------------------------- reference float fixtures

describe.each([
  ['deit-tiny-photos.safetensors', 'timm eval transform', timmCfg()],
  ['hf-photos.safetensors', 'ViTImageProcessor', hfCfg()],
] as const)('%s (%s)', (fixture, _what, cfg) => {
  it('matches the reference pixel_values', async () => {
    const h = await readSafetensorsHeader(join(FIXTURES, fixture));
    const files = JSON.parse(h.metadata.files) as string[];
    const px = await readTensorF32(h, 'pixel_values');
    const n = 3 * 224 * 224;
    for (const [i, f] of files.entries()) {
      const ref = px.data.subarray(i * n, (i + 1) * n);
      const got = await preprocessImage(join(PHOTOS, f), cfg);
      const dn = diff(got, ref);
      const dl = diff(levels(got, cfg, 224 * 224), levels(ref, cfg, 224 * 224), 0.01);
      console.log(
        `${fixture} ${f}: normalised max ${dn.max.toExponential(2)} mean ${dn.mean.toExponential(2)}; ` +
          `uint8 levels max ${dl.max.toFixed(3)} mean ${dl.mean.toExponential(2)}, ${dl.count} values off`,
      );
      // Same uint8 levels everywhere; the float32 arithmetic of the normalisation is replicated
      // (at most 1 ulp of |x| <= 2.7 remains for any operation-order difference).
      expect(dl.count, f).toBe(0);
      expect(dn.max, f).toBeLessThan(1e-6);
    }
  });
});

// ------------------------------------------------------------- PIL fixture (decode + pipelines)

describe.skipIf(!HAVE_PIL_FIXTURE)('preprocess-pil.safetensors (PIL 12 / torchvision / timm)', () => {
  let h: SafetensorsHeader;
  let files: string[];
  let regions: Record<string, [number, number, number, number, number, number]>;
  beforeAll(async () => {
    h = await readSafetensorsHeader(PIL_FIXTURE);
    files = JSON.parse(h.metadata.files);
    regions = JSON.parse(h.metadata.decoded_regions);
  });

  it('decodes every photo and format sample to the same RGB as PIL', async () => {
    expect(files.length).toBeGreaterThanOrEqual(19);
    for (const f of files) {
      const img = await decodeImage(join(PHOTOS, f));
      const [top, left, rh, rw, H, W] = regions[f];
      expect([img.height, img.width], f).toEqual([H, W]);
      const ref = await readU8(h, `decoded/${f}`);
      const got = new Uint8Array(rh * rw * 3);
      for (let y = 0; y < rh; y++) got.set(img.data.subarray(((top + y) * W + left) * 3, ((top + y) * W + left + rw) * 3), y * rw * 3);
      const d = diff(got, ref.data);
      console.log(`decode ${f} (PIL ${JSON.parse(h.metadata.pil_modes)[f]}): max ${d.max} mean ${d.mean.toExponential(2)} (${d.count} differ)`);
      expect(d.max, f).toBe(0);
    }
  });

  const pipelines: [string, PreprocessConfig, 'pil' | 'torch-u8' | undefined][] = [
    ['hf224', hfCfg(), undefined],
    ['timm224', timmCfg(), undefined],
    ['timm224x320', timmCfg([224, 320]), undefined],
    ['timm384', timmCfg([384, 384], 1.0), undefined],
    ['hf256bicubic', hfCfg([256, 256], 'bicubic'), undefined],
    ['pil224bilinear', hfCfg(), 'pil'],
    ['pil224nearest', hfCfg([224, 224], 'nearest'), 'pil'],
  ];
  it.each(pipelines)('%s: uint8 images identical', async (prefix, cfg, quantization) => {
    const names = [...h.tensors.keys()].filter((k) => k.startsWith(`${prefix}/`));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const f = name.slice(prefix.length + 1);
      const ref = await readU8(h, name);
      const got = resizeForModel(await decodeImage(join(PHOTOS, f)), cfg, cfg.size, { quantization });
      expect([got.height, got.width, 3]).toEqual(ref.shape);
      const d = diff(got.data, ref.data);
      console.log(`${name}: max ${d.max} levels, mean ${d.mean.toExponential(2)}, ${d.count} differ`);
      expect(d.max, name).toBe(0);
    }
  });

  it('torchvision int16 weights differ from Pillow 22-bit weights (the fixture tells them apart)', async () => {
    const f = 'chelsea.png';
    const img = await decodeImage(join(PHOTOS, f));
    const pil = resizeForModel(img, hfCfg(), [224, 224], { quantization: 'pil' });
    const tv = resizeForModel(img, hfCfg(), [224, 224], { quantization: 'torch-u8' });
    const refTv = await readU8(h, `hf224/${f}`);
    const refPil = await readU8(h, `pil224bilinear/${f}`);
    const cross = diff(pil.data, refTv.data);
    console.log(`PIL weights vs torchvision reference: ${cross.count} values differ (max ${cross.max})`);
    expect(cross.count).toBeGreaterThan(0);
    expect(diff(pil.data, refPil.data).max).toBe(0);
    expect(diff(tv.data, refTv.data).max).toBe(0);
  });
});

// ------------------------------------------------------------- decoder behaviour and errors

describe('decodeImage', () => {
  const FORMATS = join(PHOTOS, 'formats');

  it('applies EXIF orientation 6 (90° clockwise), as PIL ImageOps.exif_transpose does', async () => {
    const f = join(FORMATS, 'chelsea-orient6.jpg');
    const meta = await sharp(f).metadata();
    expect(meta.orientation).toBe(6);
    const img = await decodeImage(f);
    expect([img.width, img.height]).toEqual([meta.height, meta.width]);
    // Independent: the stored (unrotated) pixels, rotated by hand.
    const raw = await sharp(f, { ignoreIcc: true }).raw().toBuffer({ resolveWithObject: true });
    const { width: w, height: hgt } = raw.info;
    for (const [x, y] of [[0, 0], [5, 100], [w - 1, hgt - 1], [77, 13]]) {
      // Orientation 6: displayed (X, Y) = (hgt - 1 - y, x).
      const X = hgt - 1 - y;
      const Y = x;
      expect(Array.from(img.data.subarray((Y * img.width + X) * 3, (Y * img.width + X) * 3 + 3))).toEqual(
        Array.from(raw.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)),
      );
    }
  });

  it('grey and grey+alpha replicate the grey channel; RGBA drops alpha without compositing', async () => {
    for (const f of ['camera-grey.jpg', 'camera-grey-alpha.png']) {
      const img = await decodeImage(join(FORMATS, f));
      for (let i = 0; i < img.data.length; i += 3) {
        if (img.data[i] !== img.data[i + 1] || img.data[i] !== img.data[i + 2]) throw new Error(`${f}: pixel ${i / 3} not grey`);
      }
    }
    const f = join(FORMATS, 'coffee-rgba.png');
    const rgba = await sharp(f).raw().toBuffer({ resolveWithObject: true });
    expect(rgba.info.channels).toBe(4);
    const img = await decodeImage(f);
    let transparent = 0;
    for (let i = 0, p = 0; i < img.width * img.height; i++, p += 4) {
      if (rgba.data[p + 3] === 0) transparent++;
      expect(img.data[3 * i]).toBe(rgba.data[p]);
      expect(img.data[3 * i + 2]).toBe(rgba.data[p + 2]);
    }
    expect(transparent).toBeGreaterThan(0);
  });

  it('16-bit PNG keeps the high byte; CMYK uses PIL cmyk2rgb on the raw samples', async () => {
    const f16 = join(FORMATS, 'squirrel-16bit.png');
    const raw16 = await sharp(f16).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
    const u16 = new Uint16Array(raw16.buffer, raw16.byteOffset, raw16.length / 2);
    const img16 = await decodeImage(f16);
    let lowNonZero = 0;
    for (let i = 0; i < u16.length; i++) {
      expect(img16.data[i]).toBe(Math.floor(u16[i] / 256));
      if (u16[i] % 256) lowNonZero++;
    }
    expect(lowNonZero).toBeGreaterThan(u16.length / 2);
    // cmyk2rgb from its definition: R = 255 - min(255, C + K) is the naive formula; PIL's is
    // (255 - K) * (1 - C / 255) rounded: check the rounding against exact arithmetic.
    const cmyk = new Uint8Array(256 * 4);
    for (let i = 0; i < 256; i++) cmyk.set([i, 255 - i, (i * 7) & 255, (i * 13) & 255], 4 * i);
    const rgb = new Uint8Array(256 * 3);
    cmykToRgb(cmyk, rgb, 256);
    for (let i = 0; i < 256; i++) {
      for (let c = 0; c < 3; c++) {
        const exact = (255 - cmyk[4 * i + 3]) * (1 - cmyk[4 * i + c] / 255);
        expect(Math.abs(rgb[3 * i + c] - exact)).toBeLessThanOrEqual(0.5 + 1e-9);
      }
    }
  });

  it('animated GIF: the first frame only', async () => {
    const frame = (rgb: number[]) =>
      sharp({ create: { width: 8, height: 6, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
    const gif = await sharp([await frame([255, 0, 0]), await frame([0, 0, 255])], { join: { animated: true } })
      .gif({ loop: 0 })
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const img = await decodeImage(gif, 'anim.gif');
    expect([img.width, img.height]).toEqual([8, 6]);
    for (let i = 0; i < img.data.length; i += 3) expect([img.data[i], img.data[i + 1], img.data[i + 2]]).toEqual([255, 0, 0]);
  });

  it('errors name the file: missing, empty, non-image, truncated and corrupt JPEG', async () => {
    const jpeg = await readFile(join(PHOTOS, 'squirrel_cls.jpg'));
    const cases: [string, Buffer | null, RegExp][] = [
      ['missing.jpg', null, /cannot read/],
      ['empty.jpg', Buffer.alloc(0), /empty/],
      ['notes.txt', Buffer.from('just some text, not an image\n'), /cannot decode/],
      ['truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)), /cannot decode/],
      ['corrupt.jpg', Buffer.concat([jpeg.subarray(0, 600), Buffer.alloc(jpeg.length - 600, 0x5a)]), /cannot decode/],
      ['short.png', (await readFile(join(PHOTOS, 'camera.png'))).subarray(0, 5000), /cannot decode/],
    ];
    for (const [name, bytes, re] of cases) {
      const p = join(tmp, name);
      if (bytes) await writeFile(p, bytes);
      const err = await decodeImage(p).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      expect(err!.message, name).toContain(p);
      expect(err!.message, name).toMatch(re);
    }
    await expect(decodeImage(Buffer.from('nope'), 'upload #3')).rejects.toThrow(/^upload #3: /);
  });
});

describe('speed', () => {
  it('decode + preprocess of a 512 x 512 JPEG and a 600 x 400 PNG', async () => {
    for (const f of ['baboon.jpg', 'coffee.png']) {
      const t0 = performance.now();
      const img = await decodeImage(join(PHOTOS, f));
      const t1 = performance.now();
      const reps = 20;
      for (let i = 0; i < reps; i++) preprocessDecoded(img, timmCfg());
      const t2 = performance.now();
      for (let i = 0; i < reps; i++) preprocessDecoded(img, hfCfg());
      const t3 = performance.now();
      console.log(
        `${f}: decode ${(t1 - t0).toFixed(1)} ms, timm preprocess ${((t2 - t1) / reps).toFixed(2)} ms, HF ${((t3 - t2) / reps).toFixed(2)} ms`,
      );
      // Generous bound (a few ms here): catches per-pixel allocation or a quadratic slip.
      expect((t3 - t1) / (2 * reps)).toBeLessThan(50);
    }
  });
});
