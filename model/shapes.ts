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
  /** Tokens: class token + patches. */
  N: number;
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
    N: 1 + grid[0] * grid[1],
    Kp: C * P * P,
    out: outputWidth(config),
  };
}

/** Grid of patches [rows, cols] for an input of [height, width] pixels. */
export function patchGrid(config: ViTConfig, [height, width]: [number, number]): [number, number] {
  return [Math.floor(height / config.patchSize), Math.floor(width / config.patchSize)];
}

/** Output width: logits, or the final class-token features of a headless backbone. */
export function outputWidth(config: ViTConfig): number {
  return config.numClasses > 0 ? config.numClasses : config.hiddenSize;
}

/** Values in one input image [C, H, W] at the config's imageSize. */
export function pixelsPerImage(config: ViTConfig): number {
  return config.numChannels * config.imageSize[0] * config.imageSize[1];
}
