/**
 * The weights of a ViT as one typed structure, built once by the loader. PyTorch layouts, float32; every
 * array is a view on a SharedArrayBuffer, so worker threads receiving a model by structured clone share
 * one copy.
 */
import type { ViTConfig } from './config.js';
import { modelShapes } from './shapes.js';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}
/** PyTorch layout: weight [out, in]. */
export interface Linear {
  weight: Tensor;
  bias?: Tensor;
}
export interface LayerNormW {
  weight: Tensor;
  bias: Tensor;
}
export interface BlockWeights {
  norm1: LayerNormW;
  /** q, k, v stacked: [3D, D]. */
  qkv: Linear;
  proj: Linear;
  norm2: LayerNormW;
  fc1: Linear;
  fc2: Linear;
}
export interface ViTWeights {
  /** weight [D, C, P, P]. */
  patchEmbed: Linear;
  /** [1, 1, D]. */
  cls: Tensor;
  /** [1, N, D]. */
  pos: Tensor;
  blocks: BlockWeights[];
  norm: LayerNormW;
  /** Absent for a headless backbone (numClasses 0). */
  head?: Linear;
  /** Distilled DeiT: the distillation token [1, 1, D]. */
  dist?: Tensor;
  /** Distilled DeiT with a head: the distillation head, averaged with `head`. */
  headDist?: Linear;
}

/** A loaded model: what every backend and worker receives. */
export interface ViTModel {
  config: ViTConfig;
  weights: ViTWeights;
  /** Where it came from (a directory, a hub id, or 'random:<arch>'), for messages. */
  source: string;
}

/**
 * A tensor's place in ViTWeights, as a path of its fields: `patchEmbed.weight`, `cls`, `pos`,
 * `blocks.3.fc1.bias`, `norm.weight`, `head.bias`, `dist`, `headDist.weight`. Format loaders map these onto checkpoint keys.
 */
export interface WeightSlot {
  path: string;
  shape: number[];
}

/** Every tensor of a config's weights with its shape, in a fixed order. */
export function weightSlots(config: ViTConfig): WeightSlot[] {
  const { D, C, P, N, mlp } = modelShapes(config);
  const slots: WeightSlot[] = [];
  const vec = (path: string, n: number) => slots.push({ path, shape: [n] });
  const norm = (p: string) => {
    vec(`${p}.weight`, D);
    vec(`${p}.bias`, D);
  };
  const linear = (p: string, out: number, inp: number) => {
    slots.push({ path: `${p}.weight`, shape: [out, inp] });
    vec(`${p}.bias`, out);
  };
  slots.push({ path: 'cls', shape: [1, 1, D] }, { path: 'pos', shape: [1, N, D] }, { path: 'patchEmbed.weight', shape: [D, C, P, P] });
  vec('patchEmbed.bias', D);
  norm('norm');
  for (let i = 0; i < config.numLayers; i++) {
    norm(`blocks.${i}.norm1`);
    norm(`blocks.${i}.norm2`);
    linear(`blocks.${i}.qkv`, 3 * D, D);
    linear(`blocks.${i}.proj`, D, D);
    linear(`blocks.${i}.fc1`, mlp, D);
    linear(`blocks.${i}.fc2`, D, mlp);
  }
  if (config.numClasses > 0) linear('head', config.numClasses, D);
  if (config.distilled) {
    slots.push({ path: 'dist', shape: [1, 1, D] });
    if (config.numClasses > 0) linear('headDist', config.numClasses, D);
  }
  return slots;
}

/** Assemble the structure from one tensor per slot path (`get` may return undefined for a missing bias). */
export function buildWeights(config: ViTConfig, get: (path: string) => Tensor | undefined): ViTWeights {
  const need = (path: string) => {
    const t = get(path);
    if (!t) throw new Error(`weights: missing ${path}`);
    return t;
  };
  const norm = (p: string): LayerNormW => ({ weight: need(`${p}.weight`), bias: need(`${p}.bias`) });
  const linear = (p: string): Linear => {
    const bias = get(`${p}.bias`);
    return bias ? { weight: need(`${p}.weight`), bias } : { weight: need(`${p}.weight`) };
  };
  const weights: ViTWeights = {
    patchEmbed: linear('patchEmbed'),
    cls: need('cls'),
    pos: need('pos'),
    blocks: Array.from({ length: config.numLayers }, (_, i) => {
      const b = `blocks.${i}`;
      return { norm1: norm(`${b}.norm1`), qkv: linear(`${b}.qkv`), proj: linear(`${b}.proj`), norm2: norm(`${b}.norm2`), fc1: linear(`${b}.fc1`), fc2: linear(`${b}.fc2`) };
    }),
    norm: norm('norm'),
  };
  if (config.numClasses > 0) weights.head = linear('head');
  if (config.distilled) {
    weights.dist = need('dist');
    if (config.numClasses > 0) weights.headDist = linear('headDist');
  }
  return weights;
}

/** Every tensor of the structure with its slot path (parameter counts, transfer, upload). */
export function weightTensors(w: ViTWeights): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const add = (path: string, t: Tensor | undefined) => t && out.push([path, t]);
  const linear = (p: string, l: Linear | LayerNormW) => {
    add(`${p}.weight`, l.weight);
    add(`${p}.bias`, l.bias);
  };
  add('cls', w.cls);
  add('pos', w.pos);
  linear('patchEmbed', w.patchEmbed);
  linear('norm', w.norm);
  w.blocks.forEach((b, i) => {
    for (const k of ['norm1', 'norm2', 'qkv', 'proj', 'fc1', 'fc2'] as const) linear(`blocks.${i}.${k}`, b[k]);
  });
  if (w.head) linear('head', w.head);
  add('dist', w.dist);
  if (w.headDist) linear('headDist', w.headDist);
  return out;
}

/** Parameter count of the weights. */
export function parameterCount(w: ViTWeights): number {
  return weightTensors(w).reduce((n, [, t]) => n + t.data.length, 0);
}

/** A new float32 array on shared memory, so worker threads can map it without copying. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * 4));
}
