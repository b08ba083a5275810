/** Small models of any shape with random weights, for checking backends against the reference forward. */
import type { ViTConfig } from '../model/config.js';
import { randomWeights } from '../model/random.js';
import type { ViTModel } from '../model/weights.js';

export interface SyntheticDims {
  D: number;
  layers: number;
  heads: number;
  mlp: number;
  /** 0: headless. */
  classes: number;
  P: number;
  size: [number, number];
  act?: ViTConfig['hiddenAct'];
  eps?: number;
  qkvBias?: boolean;
  /** Distilled DeiT: distillation token and head. */
  distilled?: boolean;
}

export function syntheticModel(d: SyntheticDims, seed = 0): ViTModel {
  const config: ViTConfig = {
    format: 'timm',
    architecture: `synthetic_d${d.D}`,
    imageSize: d.size,
    patchSize: d.P,
    numChannels: 3,
    hiddenSize: d.D,
    numLayers: d.layers,
    numHeads: d.heads,
    mlpDim: d.mlp,
    numClasses: d.classes,
    layerNormEps: d.eps ?? 1e-6,
    qkvBias: d.qkvBias ?? true,
    hiddenAct: d.act ?? 'gelu',
    ...(d.distilled ? { distilled: true } : {}),
    preprocess: { mode: 'resize', size: d.size, cropPct: 1, interpolation: 'bilinear', rescale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    posEmbedResample: 'timm',
  };
  return { config, weights: randomWeights(config, seed), source: `synthetic:d${d.D}` };
}
