/**
 * `random:<arch>` models: a named architecture with deterministic random weights made in memory (no
 * download), for benchmarks and tests (weights: model/random.ts).
 */
import type { ViTConfig } from '../model/config.js';
import { randomWeights } from '../model/random.js';
import type { ViTModel } from '../model/weights.js';
import { ARCH_PATTERN, archSizes } from './architectures.js';
import { imagenet1kLabels } from './labels.js';

export function isRandomSpec(spec: string): boolean {
  return spec.startsWith('random:');
}

/** `random:vit-base-patch16-224` (or any timm name accepted by archSizes), optionally `random:<arch>:<numClasses>`. */
export function randomModel(spec: string, seed = 0): ViTModel {
  const config = randomConfig(spec);
  return { config, weights: randomWeights(config, seed), source: spec };
}

/** The configuration of a `random:<arch>[:<numClasses>]` spec (no weights made). */
export function randomConfig(spec: string): ViTConfig {
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
    ...(sizes.distilled ? { distilled: true } : {}),
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
  return config;
}
