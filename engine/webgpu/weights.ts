/**
 * Weights in the layouts the kernels read, uploaded once per session. Linear weights arrive as
 * PyTorch [out, in]; the GEMM reads B as [in, pad4(out)] (N contiguous, zero padding columns), so
 * they are transposed here, once, on the CPU. Biases are padded to pad4(out) with zeros.
 */
import type { ViTModel, Tensor } from '../config.js';
import type { GpuContext } from './device.js';
import { pad4 } from './kernels/gemm.js';

/** W [N, K] row-major -> Wt [K, pad4(N)] row-major, padding columns zero. */
export function transposePad(w: Float32Array, N: number, K: number): Float32Array {
  if (w.length !== N * K) throw new Error(`engine/webgpu/weights.ts: weight has ${w.length} values, expected ${N}x${K}`);
  const NP = pad4(N);
  const out = new Float32Array(K * NP);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let k = 0; k < K; k++) out[k * NP + n] = w[row + k]!;
  }
  return out;
}

export function padTo4(v: Float32Array): Float32Array {
  const out = new Float32Array(pad4(v.length));
  out.set(v);
  return out;
}

export interface LinearBuffers {
  w: GPUBuffer;
  b: GPUBuffer;
  /** Output width (unpadded) and input width. */
  N: number;
  K: number;
}

export interface LayerBuffers {
  norm1: { g: GPUBuffer; b: GPUBuffer };
  qkv: LinearBuffers;
  proj: LinearBuffers;
  norm2: { g: GPUBuffer; b: GPUBuffer };
  fc1: LinearBuffers;
  fc2: LinearBuffers;
}

export interface ModelBuffers {
  patch: LinearBuffers;
  cls: GPUBuffer;
  pos: GPUBuffer;
  layers: LayerBuffers[];
  norm: { g: GPUBuffer; b: GPUBuffer };
  head?: LinearBuffers;
  all: GPUBuffer[];
}

export function uploadModel(ctx: GpuContext, model: ViTModel): ModelBuffers {
  const { weights } = model;
  const all: GPUBuffer[] = [];
  const get = (name: string, length: number): Tensor => {
    const t = weights[name];
    if (!t) throw new Error(`engine/webgpu/weights.ts: weight ${name} missing (${model.source})`);
    if (t.data.length !== length) {
      throw new Error(`engine/webgpu/weights.ts: ${name} has ${t.data.length} values, expected ${length} (${model.source})`);
    }
    return t;
  };
  const put = (data: Float32Array, label: string) => {
    const b = ctx.upload(data, label);
    all.push(b);
    return b;
  };
  const vec = (name: string, n: number) => put(padTo4(get(name, n).data), name);
  const linear = (prefix: string, N: number, K: number): LinearBuffers => ({
    w: put(transposePad(get(`${prefix}.weight`, N * K).data, N, K), `${prefix}.weight`),
    b: weights[`${prefix}.bias`] ? vec(`${prefix}.bias`, N) : put(new Float32Array(pad4(N)), `${prefix}.bias(zero)`),
    N,
    K,
  });
  const c = model.config;
  const D = c.hiddenSize;
  const [H, W] = c.imageSize;
  const np = Math.floor(H / c.patchSize) * Math.floor(W / c.patchSize);
  const layers: LayerBuffers[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `blocks.${i}`;
    layers.push({
      norm1: { g: vec(`${p}.norm1.weight`, D), b: vec(`${p}.norm1.bias`, D) },
      qkv: linear(`${p}.attn.qkv`, 3 * D, D),
      proj: linear(`${p}.attn.proj`, D, D),
      norm2: { g: vec(`${p}.norm2.weight`, D), b: vec(`${p}.norm2.bias`, D) },
      fc1: linear(`${p}.mlp.fc1`, c.mlpDim, D),
      fc2: linear(`${p}.mlp.fc2`, D, c.mlpDim),
    });
  }
  return {
    patch: linear('patch_embed.proj', D, c.numChannels * c.patchSize * c.patchSize),
    cls: vec('cls_token', D),
    pos: put(get('pos_embed', (1 + np) * D).data, 'pos_embed'),
    layers,
    norm: { g: vec('norm.weight', D), b: vec('norm.bias', D) },
    head: c.numClasses > 0 ? linear('head', c.numClasses, D) : undefined,
    all,
  };
}
