/**
 * `random:<arch>` models: a named architecture with deterministic random weights made in memory (no
 * download), for benchmarks and tests. Weights are drawn so activations stay O(1) (unit-variance linear
 * layers, LayerNorm gains near 1), which keeps logits meaningful and timings representative.
 */
import { sharedFloat32, type ViTConfig, type ViTModel, type Weights } from '../engine/config.js';
import { ARCH_PATTERN, archSizes } from './architectures.js';
import { canonicalShapes } from './checkpoint.js';
import { imagenet1kLabels } from './labels.js';

/**
 * Fill with a uniform distribution of the given mean and standard deviation (half-width sqrt(3) * std),
 * from a xorshift32 stream: deterministic across platforms and fast enough for ViT-L (300M values).
 * Returns the generator state to continue from.
 */
function uniform(out: Float32Array, state: number, mean: number, std: number): number {
  const scale = (2 * Math.sqrt(3) * std) / 4294967296;
  const lo = mean - Math.sqrt(3) * std;
  let x = state | 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = lo + (x >>> 0) * scale;
  }
  return x;
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
  let state = (0x9e3779b9 ^ Math.imul(seed + 1, 0x85ebca6b)) | 0;
  const weights: Weights = {};
  for (const [name, shape] of canonicalShapes(config)) {
    const data = sharedFloat32(shape.reduce((a, b) => a * b, 1));
    if (/norm\d?\.weight$/.test(name)) state = uniform(data, state, 1, 0.1);
    else if (shape.length === 1) state = uniform(data, state, 0, 0.02);
    else if (name === 'cls_token' || name === 'pos_embed') state = uniform(data, state, 0, 0.5);
    else state = uniform(data, state, 0, 1 / Math.sqrt(data.length / shape[0]!));
    weights[name] = { shape, data };
  }
  return { config, weights, source: spec };
}
