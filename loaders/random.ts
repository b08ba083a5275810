/**
 * `random:<arch>` models: a named architecture with deterministic random weights made in memory (no
 * download), for benchmarks and tests. Weights are drawn so activations stay O(1) (unit-variance linear
 * layers, LayerNorm gains near 1), which keeps logits meaningful and timings representative.
 */
import { sharedFloat32, type ViTConfig, type ViTModel, type Weights } from '../engine/config.js';
import { ARCH_PATTERN, archSizes } from './architectures.js';
import { canonicalShapes } from './checkpoint.js';
import { imagenet1kLabels } from './labels.js';

/** xoshiro128** : small, fast, deterministic across platforms. */
function rng(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 + seed;
  let c = 0xb7e15162;
  let d = 0x12345678 ^ (seed * 31);
  const next = () => {
    const r = Math.imul(Math.imul(b, 5) << 7 | Math.imul(b, 5) >>> 25, 9);
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** Fill with N(mean, std^2) by Box-Muller. */
function normal(out: Float32Array, rand: () => number, mean: number, std: number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const th = 2 * Math.PI * rand();
    out[i] = mean + r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = mean + r * Math.sin(th);
  }
  return out;
}

export function isRandomSpec(spec: string): boolean {
  return spec.startsWith('random:');
}

/** `random:vit-base-patch16-224` (or any timm name accepted by archSizes), optionally `random:<arch>:<numClasses>`. */
export function randomModel(spec: string, seed = 0): ViTModel {
  const body = spec.replace(/^random:/, '');
  const [arch, classes] = body.split(':');
  const sizes = archSizes(arch ?? '');
  if (!sizes) throw new Error(`${spec}: unknown architecture (expected random:<arch> with <arch> one of ${ARCH_PATTERN})`);
  const numClasses = classes === undefined ? 1000 : Number(classes);
  if (!Number.isInteger(numClasses) || numClasses < 0) throw new Error(`${spec}: number of classes must be a non-negative integer`);
  const config: ViTConfig = {
    format: 'timm',
    architecture: arch!.replace(/-/g, '_'),
    imageSize: [sizes.imgSize, sizes.imgSize],
    patchSize: sizes.patchSize,
    numChannels: 3,
    hiddenSize: sizes.embedDim,
    numLayers: sizes.depth,
    numHeads: sizes.numHeads,
    mlpDim: sizes.embedDim * sizes.mlpRatio,
    numClasses,
    layerNormEps: 1e-6,
    qkvBias: true,
    hiddenAct: 'gelu',
    labels: numClasses === 1000 ? imagenet1kLabels() : undefined,
    preprocess: {
      mode: 'resize-crop',
      size: [sizes.imgSize, sizes.imgSize],
      cropPct: 0.9,
      interpolation: 'bicubic',
      rescale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
    posEmbedResample: 'timm',
  };
  const rand = rng(seed);
  const weights: Weights = {};
  for (const [name, shape] of canonicalShapes(config)) {
    const data = sharedFloat32(shape.reduce((a, b) => a * b, 1));
    if (/norm\d?\.weight$/.test(name)) normal(data, rand, 1, 0.1);
    else if (shape.length === 1) normal(data, rand, 0, 0.02);
    else if (name === 'cls_token' || name === 'pos_embed') normal(data, rand, 0, 0.5);
    else normal(data, rand, 0, 1 / Math.sqrt(data.length / shape[0]!));
    weights[name] = { shape, data };
  }
  return { config, weights, source: spec };
}
