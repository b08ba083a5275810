/**
 * Deterministic random weights for a config (random:<arch> models, synthetic test models). Drawn so
 * activations stay O(1): unit-variance linear layers, LayerNorm gains near 1.
 */
import { xorshiftFill } from '../util/random.js';
import type { ViTConfig } from './config.js';
import { buildWeights, sharedFloat32, weightSlots, type Tensor, type ViTModel, type ViTWeights } from './weights.js';

export function randomWeights(config: ViTConfig, seed = 0): ViTWeights {
  let state = (0x9e3779b9 ^ Math.imul(seed + 1, 0x85ebca6b)) | 0;
  const tensors = new Map<string, Tensor>();
  // Uniform with the given mean and standard deviation (half-width sqrt(3) * std).
  const uniform = (data: Float32Array, mean: number, std: number) => (state = xorshiftFill(data, state, mean - Math.sqrt(3) * std, mean + Math.sqrt(3) * std));
  for (const { path, shape } of weightSlots(config)) {
    const data = sharedFloat32(shape.reduce((a, b) => a * b, 1));
    if (/norm\d?\.weight$/.test(path)) uniform(data, 1, 0.1);
    else if (shape.length === 1) uniform(data, 0, 0.02);
    else if (path === 'cls' || path === 'dist' || path === 'pos') uniform(data, 0, 0.5);
    else uniform(data, 0, 1 / Math.sqrt(data.length / shape[0]!));
    tensors.set(path, { shape, data });
  }
  return buildWeights(config, (p) => tensors.get(p));
}

/** A small random ViT (2 blocks, width 64, 64x64 pixels, 10 classes) for self-tests and backend trials. */
export function tinyRandomModel(seed = 0): ViTModel {
  const config: ViTConfig = {
    format: 'timm',
    architecture: 'tiny_random_vit',
    imageSize: [64, 64],
    patchSize: 16,
    numChannels: 3,
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    mlpDim: 128,
    numClasses: 10,
    layerNormEps: 1e-6,
    qkvBias: true,
    hiddenAct: 'gelu',
    preprocess: { mode: 'resize', size: [64, 64], cropPct: 1, interpolation: 'bilinear', rescale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    posEmbedResample: 'timm',
  };
  return { config, weights: randomWeights(config, seed), source: 'tiny-random-vit' };
}
