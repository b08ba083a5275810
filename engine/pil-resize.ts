/**
 * Pillow-exact image resampling of 8-bit RGB (Pillow src/libImaging/Resample.c and, for NEAREST,
 * Geometry.c ImagingScaleAffine), plus torchvision's native uint8 kernel, which is the same
 * algorithm with int16 weights (aten UpSampleKernelAVXAntialias.h; what HF transformers 5 image
 * processors run on x86 CPUs with AVX2/AVX512).
 *
 * Separable convolution: each output sample has a window [xmin, xmin + n) of input samples and
 * normalised filter weights; when downscaling by `scale` the filter is stretched by `scale`
 * (antialiasing). Weights are fixed point; the horizontal pass runs first and its result is
 * rounded and clipped to uint8 before the vertical pass. A pass whose size is unchanged is skipped.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** RGB interleaved, row-major, width * height * 3 bytes. */
  data: Uint8Array;
}

export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

/**
 * 'pil': Pillow's PRECISION_BITS = 32 - 8 - 2 = 22 for every pass.
 * 'torch-u8': int16 weights with the largest precision (< 22) that keeps 2 * max weight below 2^15.
 */
export type WeightQuantization = 'pil' | 'torch-u8';

/** Output pixels [x, x + w) x [y, y + h) of the full-size result; others are never computed. */
export interface OutputWindow {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ResampleOptions {
  quantization?: WeightQuantization;
  /** Source region (Pillow's `box`, float32 coordinates); default the whole image. */
  box?: [number, number, number, number];
  /** Compute only this part of the output (bit-identical to resizing fully and then cropping). */
  window?: OutputWindow;
}

interface Filter {
  fn: (x: number) => number;
  support: number;
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  hamming: {
    support: 1,
    fn: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      // 0.54f / 0.46f are float literals in Pillow.
      return (Math.sin(x) / x) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    // Keys cubic convolution with a = -0.5.
    fn: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PIL_PRECISION_BITS = 22;

/** Per-output-sample windows and fixed-point weights along one axis. */
export interface AxisCoeffs {
  ksize: number;
  /** [xmin, n] per output sample. */
  bounds: Int32Array;
  /** ksize weights per output sample, fixed point with `precision` fractional bits. */
  weights: Int32Array;
  precision: number;
}

/** Pillow's precompute_coeffs (double weights), then quantised as Pillow or torchvision does. */
export function axisCoeffs(
  inSize: number,
  in0: number,
  in1: number,
  outSize: number,
  filter: Filter,
  quantization: WeightQuantization,
): AxisCoeffs {
  // Box coordinates are C floats: in1 - in0 is a float subtraction, the rest double.
  const scale = Math.fround(Math.fround(in1) - Math.fround(in0)) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = Math.fround(in0) + (xx + 0.5) * scale;
    // (int) casts truncate toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const o = xx * ksize;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      kk[o + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < n; x++) kk[o + x] /= ww;
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = n;
  }
  let precision = PIL_PRECISION_BITS;
  if (quantization === 'torch-u8') {
    let wmax = 0;
    for (let i = 0; i < kk.length; i++) if (kk[i] > wmax) wmax = kk[i];
    for (precision = 0; precision < 22; precision++) {
      if (Math.trunc(0.5 + wmax * 2 ** (precision + 1)) >= 1 << 15) break;
    }
  }
  const weights = new Int32Array(kk.length);
  const one = 2 ** precision;
  for (let i = 0; i < kk.length; i++) {
    const v = kk[i] * one;
    weights[i] = Math.trunc(v < 0 ? v - 0.5 : v + 0.5);
  }
  return { ksize, bounds, weights, precision };
}

const clip8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Resize RGB `img` to outW x outH as Pillow's Image.resize does (optionally just a window of it). */
export function resizeRgb(
  img: RgbImage,
  outW: number,
  outH: number,
  filter: ResampleFilter,
  opts: ResampleOptions = {},
): RgbImage {
  const { width: inW, height: inH } = img;
  if (!(outW > 0 && outH > 0) || !Number.isInteger(outW) || !Number.isInteger(outH)) {
    throw new RangeError(`resize: bad output size ${outW}x${outH}`);
  }
  const box = opts.box ?? [0, 0, inW, inH];
  const win = opts.window ?? { x: 0, y: 0, w: outW, h: outH };
  if (win.x < 0 || win.y < 0 || win.w < 1 || win.h < 1 || win.x + win.w > outW || win.y + win.h > outH) {
    throw new RangeError(`resize: window ${JSON.stringify(win)} outside ${outW}x${outH}`);
  }
  const isFull = box[0] === 0 && box[1] === 0 && box[2] === inW && box[3] === inH;
  if (isFull && outW === inW && outH === inH) return cropRgb(img, win);
  if (filter === 'nearest') return nearest(img, outW, outH, box, win);

  const f = FILTERS[filter];
  const quant = opts.quantization ?? 'pil';
  // Pillow's quirk: compares box[2] with the output width (equal to the input's when it matters).
  const needH = outW !== inW || box[0] !== 0 || box[2] !== outW;
  const needV = outH !== inH || box[1] !== 0 || box[3] !== outH;
  const vert = axisCoeffs(inH, box[1], box[3], outH, f, quant);

  // Rows of the source the vertical pass reads for the requested output rows.
  let yFirst = win.y;
  let yEnd = win.y + win.h;
  if (needV) {
    yFirst = vert.bounds[2 * win.y];
    const last = win.y + win.h - 1;
    yEnd = vert.bounds[2 * last] + vert.bounds[2 * last + 1];
  }
  let cur: RgbImage;
  let rowOffset: number; // source row of cur's row 0
  if (needH) {
    const horiz = axisCoeffs(inW, box[0], box[2], outW, f, quant);
    cur = horizontalPass(img, horiz, win.x, win.w, yFirst, yEnd);
    rowOffset = yFirst;
  } else {
    cur = img;
    rowOffset = 0;
    if (win.x !== 0 || win.w !== inW) {
      cur = cropRgb(img, { x: win.x, y: yFirst, w: win.w, h: yEnd - yFirst });
      rowOffset = yFirst;
    }
  }
  if (!needV) {
    return cur.height === win.h && rowOffset === win.y ? cur : cropRgb(cur, { x: 0, y: win.y - rowOffset, w: win.w, h: win.h });
  }
  return verticalPass(cur, vert, win.y, win.h, rowOffset);
}

/** Horizontal pass over source rows [y0, y1) for output columns [x0, x0 + w). */
function horizontalPass(img: RgbImage, c: AxisCoeffs, x0: number, w: number, y0: number, y1: number): RgbImage {
  const src = img.data;
  const inStride = img.width * 3;
  const out = new Uint8Array(w * (y1 - y0) * 3);
  const { ksize, bounds, weights, precision } = c;
  const half = 2 ** (precision - 1);
  let o = 0;
  for (let y = y0; y < y1; y++) {
    const row = y * inStride;
    for (let xx = x0; xx < x0 + w; xx++) {
      const xmin = bounds[2 * xx];
      const n = bounds[2 * xx + 1];
      const k0 = xx * ksize;
      let s0 = half;
      let s1 = half;
      let s2 = half;
      let p = row + xmin * 3;
      for (let x = 0; x < n; x++, p += 3) {
        const k = weights[k0 + x];
        s0 += src[p] * k;
        s1 += src[p + 1] * k;
        s2 += src[p + 2] * k;
      }
      // Arithmetic shift of the int32 accumulator, then clip to 0..255.
      out[o++] = clip8(s0 >> precision);
      out[o++] = clip8(s1 >> precision);
      out[o++] = clip8(s2 >> precision);
    }
  }
  return { width: w, height: y1 - y0, data: out };
}

/** Vertical pass for output rows [y0, y0 + h); `img` row 0 is source row `rowOffset`. */
function verticalPass(img: RgbImage, c: AxisCoeffs, y0: number, h: number, rowOffset: number): RgbImage {
  const src = img.data;
  const stride = img.width * 3;
  const out = new Uint8Array(stride * h);
  const { ksize, bounds, weights, precision } = c;
  const half = 2 ** (precision - 1);
  let o = 0;
  for (let yy = y0; yy < y0 + h; yy++) {
    const ymin = bounds[2 * yy] - rowOffset;
    const n = bounds[2 * yy + 1];
    const k0 = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let s = half;
      let p = ymin * stride + i;
      for (let y = 0; y < n; y++, p += stride) s += src[p] * weights[k0 + y];
      out[o++] = clip8(s >> precision);
    }
  }
  return { width: img.width, height: h, data: out };
}

/** Pillow's NEAREST resize: ImagingScaleAffine with a = [(x1-x0)/w, 0, x0, 0, (y1-y0)/h, y0]. */
function nearest(img: RgbImage, outW: number, outH: number, box: number[], win: OutputWindow): RgbImage {
  const f = Math.fround;
  const a0 = f(f(box[2]) - f(box[0])) / outW;
  const a4 = f(f(box[3]) - f(box[1])) / outH;
  // COORD(v): -1 for negative v, else (int)v; positions are accumulated in double, as in C.
  const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v));
  const xin = new Int32Array(outW).fill(-1);
  let xo = f(box[0]) + a0 * 0.5;
  for (let x = 0; x < outW; x++, xo += a0) {
    const xi = coord(xo);
    if (xi >= 0 && xi < img.width) xin[x] = xi;
  }
  const out = new Uint8Array(win.w * win.h * 3); // fill = 1: unmapped pixels are 0
  let yo = f(box[1]) + a4 * 0.5;
  for (let y = 0; y < win.y + win.h; y++, yo += a4) {
    if (y < win.y) continue;
    const yi = coord(yo);
    if (yi < 0 || yi >= img.height) continue;
    const row = yi * img.width * 3;
    let o = (y - win.y) * win.w * 3;
    for (let x = win.x; x < win.x + win.w; x++, o += 3) {
      if (xin[x] < 0) continue;
      const p = row + xin[x] * 3;
      out[o] = img.data[p];
      out[o + 1] = img.data[p + 1];
      out[o + 2] = img.data[p + 2];
    }
  }
  return { width: win.w, height: win.h, data: out };
}

/** Copy of the region `win` (must lie inside the image). */
export function cropRgb(img: RgbImage, win: OutputWindow): RgbImage {
  if (win.x === 0 && win.y === 0 && win.w === img.width && win.h === img.height) return img;
  const out = new Uint8Array(win.w * win.h * 3);
  const rowBytes = win.w * 3;
  for (let y = 0; y < win.h; y++) {
    const s = ((win.y + y) * img.width + win.x) * 3;
    out.set(img.data.subarray(s, s + rowBytes), y * rowBytes);
  }
  return { width: win.w, height: win.h, data: out };
}
