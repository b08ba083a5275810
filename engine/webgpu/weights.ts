/**
 * Weights in the layouts the kernels read, uploaded once per session. Linear weights arrive as
 * PyTorch [out, in]; the GEMM reads B as [in, pad4(out)] (N contiguous, zero padding columns), so
 * they are transposed here, once, on the CPU. Biases are padded to pad4(out) with zeros.
 * With `f16` the linear weights are stored as f16 (rounded to nearest even); biases, norms, cls and
 * position embeddings stay f32.
 */
import { modelShapes } from '../../model/shapes.js';
import type { LayerNormW, Linear, Tensor, ViTModel } from '../../model/weights.js';
import type { GpuContext } from './device.js';
import { toF16 } from './f16.js';
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
  /** The prefix tokens: class token, then the distillation token of a distilled DeiT ([prefix, D]). */
  cls: GPUBuffer;
  pos: GPUBuffer;
  layers: LayerBuffers[];
  norm: { g: GPUBuffer; b: GPUBuffer };
  /** Distilled DeiT: head and headDist hold half their weights and biases, so their sum is the average. */
  head?: LinearBuffers;
  headDist?: LinearBuffers;
  all: GPUBuffer[];
}

export function uploadModel(ctx: GpuContext, model: ViTModel, f16 = false): ModelBuffers {
  const all: GPUBuffer[] = [];
  const put = (data: Float32Array | Uint16Array, label: string) => {
    const b = ctx.upload(data, label);
    all.push(b);
    return b;
  };
  const check = (t: Tensor, length: number, label: string) => {
    if (t.data.length !== length) throw new Error(`engine/webgpu/weights.ts: ${label} has ${t.data.length} values, expected ${length} (${model.source})`);
    return t.data;
  };
  const vec = (t: Tensor, n: number, label: string) => put(padTo4(check(t, n, label)), label);
  const linear = (l: Linear, N: number, K: number, label: string): LinearBuffers => {
    const wt = transposePad(check(l.weight, N * K, `${label}.weight`), N, K);
    return {
      w: put(f16 ? toF16(wt) : wt, `${label}.weight`),
      b: l.bias ? vec(l.bias, N, `${label}.bias`) : put(new Float32Array(pad4(N)), `${label}.bias(zero)`),
      N,
      K,
    };
  };
  const { D, N, Kp, mlp, out } = modelShapes(model.config);
  const norm = (n: LayerNormW, label: string) => ({ g: vec(n.weight, D, `${label}.weight`), b: vec(n.bias, D, `${label}.bias`) });
  const w = model.weights;
  const layers: LayerBuffers[] = w.blocks.map((b, i) => ({
    norm1: norm(b.norm1, `block ${i} norm1`),
    qkv: linear(b.qkv, 3 * D, D, `block ${i} qkv`),
    proj: linear(b.proj, D, D, `block ${i} proj`),
    norm2: norm(b.norm2, `block ${i} norm2`),
    fc1: linear(b.fc1, mlp, D, `block ${i} fc1`),
    fc2: linear(b.fc2, D, mlp, `block ${i} fc2`),
  }));
  return {
    patch: linear(w.patchEmbed, D, Kp, 'patchEmbed'),
    cls: w.dist ? put(concat(check(w.cls, D, 'cls'), check(w.dist, D, 'dist')), 'cls+dist') : vec(w.cls, D, 'cls'),
    pos: put(check(w.pos, N * D, 'pos'), 'pos'),
    layers,
    norm: norm(w.norm, 'norm'),
    head: w.head ? linear(w.headDist ? halved(w.head) : w.head, out, D, 'head') : undefined,
    headDist: w.headDist ? linear(halved(w.headDist), out, D, 'headDist') : undefined,
    all,
  };
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A linear layer times 0.5 (exact in float32): two halved heads sum to their average. */
function halved(l: Linear): Linear {
  const half = (t: Tensor): Tensor => ({ shape: t.shape, data: t.data.map((v) => v * 0.5) });
  return l.bias ? { weight: half(l.weight), bias: half(l.bias) } : { weight: half(l.weight) };
}
