/**
 * The float64 reference forward: straightforward loops in the PyTorch layouts, sharing no code with any
 * backend. It is the oracle every backend and precision is checked against (test/reference.test.ts holds it
 * to the PyTorch fixtures).
 */
import { modelShapes, type ModelOutput } from './shapes.js';
import type { LayerNormW, Linear, ViTModel } from './weights.js';

export type Act = 'none' | 'gelu' | 'gelu_tanh';

export function gelu64(x: number, act: Act): number {
  if (act === 'gelu') return 0.5 * x * (1 + erf64(x / Math.SQRT2));
  if (act === 'gelu_tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  return x;
}

/** out[M, N] = act(a[M, K] · w[N, K]^T + bias) (+ residual[M, N]). */
export function linear64(
  a: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | undefined,
  M: number, K: number, N: number, act: Act = 'none', residual?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n]! : 0;
      const ar = m * K;
      const wr = n * K;
      for (let k = 0; k < K; k++) s += a[ar + k]! * w[wr + k]!;
      s = gelu64(s, act);
      out[m * N + n] = residual ? residual[m * N + n]! + s : s;
    }
  }
  return out;
}

/** LayerNorm over rows of width D (biased variance). */
export function layerNorm64(x: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>, rows: number, D: number, eps: number): Float64Array {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[r * D + d]!;
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[r * D + d]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / D + eps);
    for (let d = 0; d < D; d++) out[r * D + d] = (x[r * D + d]! - mean) * rstd * g[d]! + b[d]!;
  }
  return out;
}

/** Multi-head attention on qkv [B*N, 3D] (q, k, v stacked, heads inside each) -> [B*N, D]. */
export function attention64(qkv: ArrayLike<number>, B: number, N: number, D: number, heads: number): Float64Array {
  const hd = D / heads;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(B * N * D);
  const s = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < N; i++) {
        const qb = (b * N + i) * 3 * D + h * hd;
        let mx = -Infinity;
        for (let j = 0; j < N; j++) {
          const kb = (b * N + j) * 3 * D + D + h * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qkv[qb + d]! * qkv[kb + d]!;
          s[j] = dot * scale;
          if (s[j]! > mx) mx = s[j]!;
        }
        let sum = 0;
        for (let j = 0; j < N; j++) sum += s[j] = Math.exp(s[j]! - mx);
        const ob = (b * N + i) * D + h * hd;
        for (let j = 0; j < N; j++) {
          const p = s[j]! / sum;
          const vb = (b * N + j) * 3 * D + 2 * D + h * hd;
          for (let d = 0; d < hd; d++) out[ob + d] += p * qkv[vb + d]!;
        }
      }
    }
  }
  return out;
}

/** erf in float64 (Taylor series for |x| < 3, continued fraction for erfc beyond): the reference for erfF32. */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) evaluated bottom-up.
  let cf = ax;
  for (let k = 60; k >= 1; k--) cf = ax + k / 2 / cf;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / cf;
  return Math.sign(x) * (1 - erfc);
}

/**
 * The whole ViT forward in float64 (slow: for tiny models and a few images). pixels [batch, C, H, W] at imageSize.
 * Returns [batch, outputWidth(config, output)] (see ModelOutput in shapes.ts).
 */
export function forward64(model: ViTModel, pixels: ArrayLike<number>, batch: number, output: ModelOutput = 'logits'): Float64Array {
  const c = model.config;
  const w = model.weights;
  const { D, P, C, grid, N, Kp, heads, prefix } = modelShapes(c);
  const [H, W] = c.imageSize;
  const gw = grid[1];
  const np = N - prefix;
  const cols = new Float64Array(batch * np * Kp);
  for (let b = 0; b < batch; b++)
    for (let p = 0; p < np; p++)
      for (let ch = 0; ch < C; ch++)
        for (let y = 0; y < P; y++)
          for (let x = 0; x < P; x++) {
            const py = Math.floor(p / gw) * P + y;
            const px = (p % gw) * P + x;
            cols[(b * np + p) * Kp + ch * P * P + y * P + x] = pixels[((b * C + ch) * H + py) * W + px]!;
          }
  const lin = (x: ArrayLike<number>, l: Linear, M: number, act: Act = 'none', residual?: ArrayLike<number>) =>
    linear64(x, l.weight.data, l.bias?.data, M, l.weight.data.length / l.weight.shape[0]!, l.weight.shape[0]!, act, residual);
  const ln = (x: ArrayLike<number>, n: LayerNormW, rows: number) => layerNorm64(x, n.weight.data, n.bias.data, rows, D, c.layerNormEps);
  const pe = lin(cols, w.patchEmbed, batch * np);
  let x: Float64Array = new Float64Array(batch * N * D);
  const cls = w.cls.data;
  const dist = w.dist?.data;
  const pos = w.pos.data;
  const token = (b: number, t: number, d: number) => (t === 0 ? cls[d]! : t < prefix ? dist![d]! : pe[(b * np + t - prefix) * D + d]!);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < N; t++)
      for (let d = 0; d < D; d++) x[(b * N + t) * D + d] = token(b, t, d) + pos[t * D + d]!;
  const T = batch * N;
  const act: Act = c.hiddenAct;
  for (const blk of w.blocks) {
    const qkv = lin(ln(x, blk.norm1, T), blk.qkv, T);
    x = lin(attention64(qkv, batch, N, D, heads), blk.proj, T, 'none', x);
    x = lin(lin(ln(x, blk.norm2, T), blk.fc1, T, act), blk.fc2, T, 'none', x);
  }
  // Final norm on every token, then the rows the output asks for.
  const normed = ln(x, w.norm, T);
  const tokenRows = (t: number) => {
    const rows = new Float64Array(batch * D);
    for (let b = 0; b < batch; b++) rows.set(normed.subarray((b * N + t) * D, (b * N + t + 1) * D), b * D);
    return rows;
  };
  const average = (ts: number[]) => {
    const out = new Float64Array(batch * D);
    for (const t of ts) {
      const r = tokenRows(t);
      for (let i = 0; i < out.length; i++) out[i] += r[i]! / ts.length;
    }
    return out;
  };
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  if (output === 'mean') return average(range(prefix, N));
  if (output === 'cls' || !w.head) return average(range(0, prefix));
  const logits = lin(tokenRows(0), w.head, batch);
  if (!w.headDist) return logits;
  const distLogits = lin(tokenRows(1), w.headDist, batch);
  return logits.map((v, i) => (v + distLogits[i]!) / 2);
}
