/**
 * Float64 CPU references for the WebGPU kernels (used by bench/webgpu-check.ts and the tests):
 * straightforward loops in the PyTorch layouts, no shared code with the WGSL generators.
 */
import { posEmbedGrid } from '../config.js';
import { erf64 } from './kernels/activation.js';

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

/** max |a - b| and ||a - b|| / ||b||; NaN anywhere in a counts as an infinite difference. */
export function compare(a: ArrayLike<number>, ref: ArrayLike<number>): { maxAbs: number; rel: number; nan: number } {
  if (a.length !== ref.length) throw new Error(`compare: length ${a.length} vs ${ref.length}`);
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  let nan = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - ref[i]!;
    if (!Number.isFinite(d)) nan++;
    else {
      maxAbs = Math.max(maxAbs, Math.abs(d));
      num += d * d;
    }
    den += ref[i]! * ref[i]!;
  }
  if (nan) maxAbs = Infinity;
  return { maxAbs, rel: nan ? Infinity : Math.sqrt(num / (den || 1)), nan };
}

/** Deterministic uniform(-1, 1) values (xorshift32), so device runs are reproducible. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** The whole ViT forward in float64 on the CPU (slow: for tiny models and single images). */
export function forward64(model: import('../config.js').ViTModel, pixels: ArrayLike<number>, batch: number): Float64Array {
  const c = model.config;
  const w = (n: string) => {
    const t = model.weights[n];
    if (!t) throw new Error(`engine/webgpu/reference.ts: weight ${n} missing`);
    return t.data;
  };
  const D = c.hiddenSize;
  const P = c.patchSize;
  const [H, W] = c.imageSize;
  const [gh, gw] = posEmbedGrid(c);
  const np = gh * gw;
  const N = np + 1;
  const Kp = c.numChannels * P * P;
  const cols = new Float64Array(batch * np * Kp);
  for (let b = 0; b < batch; b++)
    for (let p = 0; p < np; p++)
      for (let ch = 0; ch < c.numChannels; ch++)
        for (let y = 0; y < P; y++)
          for (let x = 0; x < P; x++) {
            const py = Math.floor(p / gw) * P + y;
            const px = (p % gw) * P + x;
            cols[(b * np + p) * Kp + ch * P * P + y * P + x] = pixels[((b * c.numChannels + ch) * H + py) * W + px]!;
          }
  const pe = linear64(cols, w('patch_embed.proj.weight'), w('patch_embed.proj.bias'), batch * np, Kp, D);
  let x: Float64Array = new Float64Array(batch * N * D);
  const cls = w('cls_token');
  const pos = w('pos_embed');
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < N; t++)
      for (let d = 0; d < D; d++)
        x[(b * N + t) * D + d] = (t === 0 ? cls[d]! : pe[(b * np + t - 1) * D + d]!) + pos[t * D + d]!;
  const T = batch * N;
  const act: Act = c.hiddenAct === 'gelu_tanh' ? 'gelu_tanh' : 'gelu';
  const opt = (n: string) => model.weights[n]?.data;
  for (let i = 0; i < c.numLayers; i++) {
    const p = `blocks.${i}`;
    let h = layerNorm64(x, w(`${p}.norm1.weight`), w(`${p}.norm1.bias`), T, D, c.layerNormEps);
    const qkv = linear64(h, w(`${p}.attn.qkv.weight`), opt(`${p}.attn.qkv.bias`), T, D, 3 * D);
    const ao = attention64(qkv, batch, N, D, c.numHeads);
    x = linear64(ao, w(`${p}.attn.proj.weight`), w(`${p}.attn.proj.bias`), T, D, D, 'none', x);
    h = layerNorm64(x, w(`${p}.norm2.weight`), w(`${p}.norm2.bias`), T, D, c.layerNormEps);
    const hid = linear64(h, w(`${p}.mlp.fc1.weight`), w(`${p}.mlp.fc1.bias`), T, D, c.mlpDim, act);
    x = linear64(hid, w(`${p}.mlp.fc2.weight`), w(`${p}.mlp.fc2.bias`), T, c.mlpDim, D, 'none', x);
  }
  const clsRows = new Float64Array(batch * D);
  for (let b = 0; b < batch; b++) clsRows.set(x.subarray(b * N * D, b * N * D + D), b * D);
  const f = layerNorm64(clsRows, w('norm.weight'), w('norm.bias'), batch, D, c.layerNormEps);
  if (c.numClasses === 0) return f;
  return linear64(f, w('head.weight'), w('head.bias'), batch, D, c.numClasses);
}
