/**
 * Position-embedding resampling to a new patch grid, reproducing each framework's own fp32 result.
 *
 *  'hf'   transformers ViTEmbeddings.interpolate_pos_encoding:
 *         F.interpolate(mode='bicubic', align_corners=False, size=new) — PyTorch's CPU kernel
 *         (UpSampleKernel.cpp upsample_generic_Nd_kernel_impl + HelperInterpCubic::compute_indices_weights):
 *         4 taps of Keys cubic convolution with A = -0.75, source indices clamped to the border, no antialias.
 *  'timm' timm.layers.resample_abs_pos_embed:
 *         F.interpolate(mode='bicubic', antialias=True, size=new) — PyTorch's separable anti-aliased kernel
 *         (separable_upsample_generic_Nd_kernel_impl + HelperInterpBase::_compute_indices_min_size_weights_aa):
 *         Pillow-style Keys cubic with a = -0.5, support widened by the scale when downsampling, window cut at the
 *         border and weights normalised per output pixel; width pass first, then height.
 *
 * PyTorch computes both in float32 (opmath of float is float); every float op is mirrored with Math.fround, the
 * places where C++ promotes to double (a float times a double literal) are left in double before rounding, and the
 * multiply-adds the compiler fused are fused here too (see fmaf). Result: bit-identical to torch 2.11 on x86-64.
 */
import type { PosEmbedResample } from '../model/config.js';
import { sharedFloat32 } from '../model/weights.js';

const f = Math.fround;

/**
 * posEmbed: [numPrefixTokens + oldH*oldW, dim] row-major (class token(s) first). Returns a new array on shared
 * memory of [numPrefixTokens + newH*newW, dim]; prefix tokens are copied unchanged.
 */
export function resamplePosEmbed(
  posEmbed: Float32Array,
  dim: number,
  oldGrid: [number, number],
  newGrid: [number, number],
  method: PosEmbedResample,
  numPrefixTokens = 1,
): Float32Array {
  const where = 'loaders/pos-embed.ts resamplePosEmbed';
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!posInt(dim)) throw new Error(`${where}: dim must be a positive integer, got ${dim}`);
  for (const [name, g] of [['oldGrid', oldGrid], ['newGrid', newGrid]] as const) {
    if (!Array.isArray(g) || g.length !== 2 || !posInt(g[0]) || !posInt(g[1])) {
      throw new Error(`${where}: ${name} must be [rows, cols] of positive integers, got ${JSON.stringify(g)}`);
    }
  }
  if (!Number.isInteger(numPrefixTokens) || numPrefixTokens < 0) {
    throw new Error(`${where}: numPrefixTokens must be a non-negative integer, got ${numPrefixTokens}`);
  }
  if (method !== 'hf' && method !== 'timm') {
    throw new Error(`${where}: method must be 'hf' or 'timm', got ${JSON.stringify(method)}`);
  }
  const [oldH, oldW] = oldGrid;
  const [newH, newW] = newGrid;
  const expected = (numPrefixTokens + oldH * oldW) * dim;
  if (posEmbed.length !== expected) {
    throw new Error(
      `${where}: posEmbed has ${posEmbed.length} values, expected (${numPrefixTokens} + ${oldH}*${oldW}) * ${dim} = ${expected}`,
    );
  }

  const out = sharedFloat32((numPrefixTokens + newH * newW) * dim);
  const prefix = numPrefixTokens * dim;
  out.set(posEmbed.subarray(0, prefix));
  const src = posEmbed.subarray(prefix);
  const dst = out.subarray(prefix);
  // Both references return the embedding untouched for an unchanged grid (HF's bicubic would be exact anyway:
  // at scale 1 its weights are [0, 1, 0, 0]).
  if (oldH === newH && oldW === newW) dst.set(src);
  else if (method === 'hf') bicubicClamped(src, dst, dim, oldH, oldW, newH, newW);
  else bicubicAntialiased(src, dst, dim, oldH, oldW, newH, newW);
  return out;
}

// ---------------------------------------------------------------- float32 arithmetic with FMA

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** The float32 next to r (a float32) on the side of `toward`. */
function adjacentFloat(r: number, toward: number): number {
  if (r === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  f32[0] = r;
  i32[0] += (toward > r) === (r > 0) ? 1 : -1; // the bits step away from zero for a larger magnitude
  return f32[0];
}

/**
 * fmaf(a, b, c) for float32 a, b, c: a * b is exact in double, so only the sum is rounded, once to double and once
 * to float. That double rounding is wrong only when the double sum lands exactly halfway between two floats; the
 * two-sum error term then says which way the exact sum lies.
 */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s) return r;
  const other = adjacentFloat(r, s);
  if ((r + other) / 2 !== s) return r;
  const pv = s - c;
  const err = (p - pv) + (c - (s - pv));
  if (err === 0) return r;
  return (err > 0) === (other > r) ? other : r;
}

/*
 * PyTorch's x86-64 CPU kernels are built with -mfma and GCC's default -ffp-contract=fast, so some `a * b + c` are
 * fused and some are not, depending on how the compiler vectorised each loop. Which ones are fused was read off
 * torch 2.11 outputs (probe inputs whose results expose each rounding); with this pattern both conventions agree
 * bit for bit with the fixtures. Reading the C++ alone gives ~1e-6 mismatches (a few ulps after cancellation).
 */

/** cubic_convolution1 ((A+2)x - (A+3)) x x + 1; `fuseLast` fuses the final `* x + 1`. */
function cubic1(x: number, a: number, fuseLast: boolean): number {
  const q = f(fmaf(f(a + 2), x, -f(a + 3)) * x);
  return fuseLast ? fmaf(q, x, 1) : f(f(q * x) + 1);
}

/** cubic_convolution2 ((Ax - 5A) x + 8A) x - 4A; `fuseLast` fuses the final `* x - 4A`. */
function cubic2(x: number, a: number, fuseLast: boolean): number {
  const q = fmaf(fmaf(a, x, -f(5 * a)), x, f(8 * a));
  return fuseLast ? fmaf(q, x, -f(4 * a)) : f(f(q * x) - f(4 * a));
}

// ---------------------------------------------------------------- 'hf': upsample_bicubic2d, A = -0.75

/** Four clamped source indices and float32 weights per output, [outSize * 4] each. */
interface CubicTaps {
  index: Int32Array;
  weight: Float32Array;
}

/** HelperInterpCubic::compute_indices_weights for align_corners=False and an explicit output size. */
function cubicTaps(inSize: number, outSize: number): CubicTaps {
  const A = f(-0.75);
  const scale = f(inSize / outSize); // area_pixel_compute_scale<float>: float(in) / out
  const index = new Int32Array(outSize * 4);
  const weight = new Float32Array(outSize * 4);
  for (let i = 0; i < outSize; i++) {
    // area_pixel_compute_source_index: float scale * double (i + 0.5) - 0.5 evaluates in double, stored as float.
    const real = f(scale * (i + 0.5) - 0.5);
    // guard_index_and_lambda
    const idx = Math.min(Math.floor(real), inSize - 1);
    const t = Math.min(Math.max(f(real - idx), 0), 1);
    // get_cubic_upsample_coefficients: `x + 1.0` / `1.0 - t` are double, rounded to float on the call.
    const x2 = f(1 - t);
    // Here the last step of each polynomial is not fused (the first step of cubic1 is invisible in the output).
    const c = [cubic2(f(t + 1), A, false), cubic1(t, A, false), cubic1(x2, A, false), cubic2(f(x2 + 1), A, false)];
    for (let j = 0; j < 4; j++) {
      index[i * 4 + j] = Math.max(Math.min(idx + j - 1, inSize - 1), 0); // border: clamp the index
      weight[i * 4 + j] = c[j];
    }
  }
  return { index, weight };
}

/** Interpolate<1, float, 4>: t0 w0 + t1 w1 + t2 w2 + t3 w3, compiled as fma(t0, w0, t1 w1), then two fmas. */
function dot4(t0: number, t1: number, t2: number, t3: number, w: Float32Array, o: number): number {
  return fmaf(t3, w[o + 3], fmaf(t2, w[o + 2], fmaf(t0, w[o], f(t1 * w[o + 1]))));
}

/**
 * Non-separable 4x4 evaluation as Interpolate<2, float, 4> does it: for each row tap a dot4 over the column taps,
 * then a dot4 of those four row results with the row weights.
 */
function bicubicClamped(
  src: Float32Array, dst: Float32Array, dim: number, inH: number, inW: number, outH: number, outW: number,
): void {
  const ty = cubicTaps(inH, outH);
  const tx = cubicTaps(inW, outW);
  const ix = tx.index;
  const rowDot = (row: number, ox: number, c: number) => {
    const b = row * inW;
    const k = ox * 4;
    const at = (col: number) => src[(b + col) * dim + c];
    return dot4(at(ix[k]), at(ix[k + 1]), at(ix[k + 2]), at(ix[k + 3]), tx.weight, k);
  };
  for (let oy = 0; oy < outH; oy++) {
    const [r0, r1, r2, r3] = ty.index.subarray(oy * 4, oy * 4 + 4);
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * dim;
      for (let c = 0; c < dim; c++) {
        dst[o + c] = dot4(rowDot(r0, ox, c), rowDot(r1, ox, c), rowDot(r2, ox, c), rowDot(r3, ox, c), ty.weight, oy * 4);
      }
    }
  }
}

// ---------------------------------------------------------------- 'timm': _upsample_bicubic2d_aa, a = -0.5

/** HelperInterpCubic::aa_filter<float> with Keys a = -0.5 (Pillow's bicubic); fully fused here. */
function keysFilter(x: number): number {
  const a = f(-0.5);
  x = Math.abs(x);
  if (x < 1) return cubic1(x, a, true);
  if (x < 2) return cubic2(x, a, true);
  return 0;
}

/** Per output: a window of `count` source indices from `start`, with float32 weights (stride `taps`). */
interface WindowTaps {
  start: Int32Array;
  count: Int32Array;
  weight: Float32Array;
  taps: number;
}

/** HelperInterpBase::_compute_indices_min_size_weights_aa over all outputs, scalar_t = float. */
function antialiasTaps(inSize: number, outSize: number): WindowTaps {
  const scale = f(inSize / outSize);
  // support = (interp_size * 0.5) * scale when downsampling (double, stored as float); 2 when upsampling.
  const support = scale >= 1 ? f(2 * scale) : 2;
  const taps = Math.ceil(support) * 2 + 1;
  const invscale = scale >= 1 ? f(1 / scale) : 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weight = new Float32Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const center = f(scale * (i + 0.5));
    // static_cast<int64_t> truncates toward zero; `float - float` rounds to float before the double `+ 0.5`.
    const xmin = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    const xsize = Math.min(Math.max(Math.min(Math.trunc(f(center + support) + 0.5), inSize) - xmin, 0), taps);
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      // (j + xmin - center + 0.5) * invscale: int - float in float, then double, rounded to float on the call.
      const w = keysFilter(f((f(j + xmin - center) + 0.5) * invscale));
      weight[i * taps + j] = w;
      total = f(total + w);
    }
    if (total !== 0) for (let j = 0; j < xsize; j++) weight[i * taps + j] = f(weight[i * taps + j] / total);
    start[i] = xmin;
    count[i] = xsize;
  }
  return { start, count, weight, taps };
}

/**
 * One separable pass along an axis of a [rows, cols, dim] grid: `axis` 1 resamples columns (PyTorch's
 * "horizontal" pass), 0 resamples rows. Float sums in tap order, as interpolate_aa_single_dim does.
 * Needs at least one tap per output, which every positive in/out size gives.
 */
function antialiasPass(
  src: Float32Array, rows: number, cols: number, dim: number, axis: 0 | 1, outSize: number,
): Float32Array {
  const tp = antialiasTaps(axis === 1 ? cols : rows, outSize);
  const outRows = axis === 0 ? outSize : rows;
  const outCols = axis === 1 ? outSize : cols;
  const dst = new Float32Array(outRows * outCols * dim);
  const step = axis === 1 ? dim : cols * dim; // distance between neighbouring taps
  for (let r = 0; r < outRows; r++) {
    for (let q = 0; q < outCols; q++) {
      const o = axis === 1 ? q : r; // output index along the resampled axis
      const base = axis === 1 ? (r * cols + tp.start[o]) * dim : (tp.start[o] * cols + q) * dim;
      const w = tp.weight.subarray(o * tp.taps, o * tp.taps + tp.count[o]);
      const d = (r * outCols + q) * dim;
      // interpolate_aa_single_dim: `output += t * w` over taps 1..n-1 is vectorised four taps at a time (products
      // rounded, sums in order); the n-1 mod 4 leftover taps run in the scalar tail, fused.
      const unfused = 1 + ((w.length - 1) & ~3);
      for (let c = 0; c < dim; c++) {
        let acc = f(src[base + c] * w[0]);
        let j = 1;
        for (; j < unfused; j++) acc = f(acc + f(src[base + j * step + c] * w[j]));
        for (; j < w.length; j++) acc = fmaf(src[base + j * step + c], w[j], acc);
        dst[d + c] = acc;
      }
    }
  }
  return dst;
}

/** separable_upsample_generic_Nd_kernel_impl: width first, then height; an unchanged axis is skipped. */
function bicubicAntialiased(
  src: Float32Array, dst: Float32Array, dim: number, inH: number, inW: number, outH: number, outW: number,
): void {
  let cur = src;
  if (outW !== inW) cur = antialiasPass(cur, inH, inW, dim, 1, outW);
  if (outH !== inH) cur = antialiasPass(cur, inH, outW, dim, 0, outH);
  dst.set(cur);
}
