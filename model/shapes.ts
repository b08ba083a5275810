/** Sizes derived from a config: the one place every backend, loader and the reference take them from. */
import type { ViTConfig } from './config.js';

export interface ModelShapes {
  /** Hidden width. */
  D: number;
  /** Patch size. */
  P: number;
  /** Input channels. */
  C: number;
  heads: number;
  headDim: number;
  /** MLP hidden width. */
  mlp: number;
  /** Patch grid [rows, cols]. */
  grid: [number, number];
  /** Tokens: prefix tokens (class, and distillation for distilled DeiT) + patches. */
  N: number;
  /** Prefix tokens before the patches: 1, or 2 for distilled DeiT. */
  prefix: number;
  /** Values per patch, C * P * P (the patch-embedding GEMM's K). */
  Kp: number;
  /** Output width: logits, or D for a headless backbone. */
  out: number;
}

/** Shapes for an input of `size` [height, width] pixels (default: the config's imageSize). */
export function modelShapes(config: ViTConfig, size: [number, number] = config.imageSize): ModelShapes {
  const D = config.hiddenSize;
  const P = config.patchSize;
  const C = config.numChannels;
  const grid = patchGrid(config, size);
  return {
    D,
    P,
    C,
    heads: config.numHeads,
    headDim: D / config.numHeads,
    mlp: config.mlpDim,
    grid,
    N: numPrefixTokens(config) + grid[0] * grid[1],
    prefix: numPrefixTokens(config),
    Kp: C * P * P,
    out: outputWidth(config),
  };
}

/** Grid of patches [rows, cols] for an input of [height, width] pixels. */
export function patchGrid(config: ViTConfig, [height, width]: [number, number]): [number, number] {
  return [Math.floor(height / config.patchSize), Math.floor(width / config.patchSize)];
}

/** Prefix tokens before the patches: the class token, and the distillation token of a distilled DeiT. */
export function numPrefixTokens(config: ViTConfig): number {
  return config.distilled ? 2 : 1;
}

/**
 * What a session returns per image:
 * - 'logits': the classifier output (the 'cls' features for a headless backbone);
 * - 'cls': the class token after the final LayerNorm (timm `forward_head(pre_logits=True)`, HF
 *   `last_hidden_state[:, 0]`); for distilled DeiT the mean of the normed class and distillation tokens, as
 *   timm's pre_logits;
 * - 'mean': the mean of the patch tokens after the final LayerNorm (prefix tokens excluded; timm
 *   `forward_features(x)[:, num_prefix_tokens:].mean(1)`, HF `last_hidden_state[:, 1:].mean(1)`).
 */
export type ModelOutput = 'logits' | 'cls' | 'mean';
export const MODEL_OUTPUTS: readonly ModelOutput[] = ['logits', 'cls', 'mean'];

/** Values per image of an output: logits, or hiddenSize features (also 'logits' of a headless backbone). */
export function outputWidth(config: ViTConfig, output: ModelOutput = 'logits'): number {
  return output === 'logits' && config.numClasses > 0 ? config.numClasses : config.hiddenSize;
}

/** Values in one input image [C, H, W] at the config's imageSize. */
export function pixelsPerImage(config: ViTConfig): number {
  return config.numChannels * config.imageSize[0] * config.imageSize[1];
}
