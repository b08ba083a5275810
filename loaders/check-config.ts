/**
 * A checkpoint's config, checked before anything is allocated from it: sizes are positive integers within
 * bounds, the heads divide the hidden size, preprocessing numbers are finite and usable. Shapes are checked
 * against the tensors afterwards (loaders/checkpoint.ts).
 */
import type { ViTConfig } from '../model/config.js';

export class ConfigError extends Error {
  /** `file`: the config file the value comes from (config.json or preprocessor_config.json). */
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

/** Upper bounds far above any published ViT (ViT-22B: 48 layers, hidden 6144, 48 heads, MLP 24576). */
const MAX = { layers: 1024, hidden: 65536, heads: 1024, mlp: 262144, patch: 1024, channels: 64, classes: 1_000_000, imageSide: 16384 };

/** `preprocessFile`: where the preprocessing numbers come from. */
export function checkConfig(c: ViTConfig, preprocessFile: string): void {
  const bad = (what: string, file = 'config.json') => {
    throw new ConfigError(file, what);
  };
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) bad(`${name} ${v} must be an integer from ${min} to ${max}`);
  };
  int('number of layers', c.numLayers, 1, MAX.layers);
  int('hidden size', c.hiddenSize, 1, MAX.hidden);
  int('number of heads', c.numHeads, 1, MAX.heads);
  if (c.hiddenSize % c.numHeads) bad(`number of heads ${c.numHeads} does not divide the hidden size ${c.hiddenSize}`);
  int('MLP size', c.mlpDim, 1, MAX.mlp);
  int('patch size', c.patchSize, 1, MAX.patch);
  int('number of channels', c.numChannels, 1, MAX.channels);
  int('number of classes', c.numClasses, 0, MAX.classes);
  for (const side of c.imageSize) int('image size', side, c.patchSize, MAX.imageSide);
  if (!(Number.isFinite(c.layerNormEps) && c.layerNormEps >= 0)) bad(`layer norm eps ${c.layerNormEps} must be a finite number >= 0`);
  const p = c.preprocess;
  const f = preprocessFile;
  for (const side of p.size) int('preprocess size', side, 1, MAX.imageSide);
  if (p.mode === 'resize-crop' && !(Number.isFinite(p.cropPct) && p.cropPct > 0 && p.cropPct <= 4)) bad(`crop_pct ${p.cropPct} must be in (0, 4]`, f);
  if (!(Number.isFinite(p.rescale) && p.rescale > 0)) bad(`rescale factor ${p.rescale} must be a finite number > 0`, f);
  const triple = (name: string, v: unknown, nonZero: boolean) => {
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!nonZero || x !== 0))) {
      bad(`${name} ${JSON.stringify(v)} must be 3 finite numbers${nonZero ? ', none 0' : ''}`, f);
    }
  };
  triple('mean', p.mean, false);
  triple('std', p.std, true);
}
