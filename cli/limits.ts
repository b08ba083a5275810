/**
 * Caps on what `vit classify` is asked to hold at once, checked at start (exit 2, with the reason) instead of
 * running out of memory later.
 */
import { availableParallelism } from 'node:os';
import type { ViTConfig } from '../model/config.js';
import { modelShapes } from '../model/shapes.js';

/** Worker threads: 4 per CPU core, and never more than 256. */
export function maxWorkers(): number {
  return Math.min(256, 4 * availableParallelism());
}

export const MAX_BATCH_SIZE = 1024;
/** Longest side of --image-size. */
export const MAX_IMAGE_SIDE = 4096;
/** Attention scores of one forward pass (batch x heads x tokens² x 4 bytes): the wasm heap is 4 GiB at most. */
export const MAX_ATTENTION_BYTES = 2 ** 31;

export class LimitError extends Error {}

export function capWhy(name: string, max: number, why: string): string {
  return `${name} is capped at ${max} (${why})`;
}

/** Refuse a batch / resolution whose attention scores alone would not fit in memory. */
export function checkRunFits(c: ViTConfig, batchSize: number): void {
  const [h, w] = c.imageSize;
  if (Math.max(h, w) > MAX_IMAGE_SIDE) throw new LimitError(capWhy('--image-size', MAX_IMAGE_SIDE, 'longest side in pixels'));
  const { N: tokens } = modelShapes(c);
  const bytes = batchSize * c.numHeads * tokens * tokens * 4;
  if (bytes > MAX_ATTENTION_BYTES) {
    throw new LimitError(
      `--image-size ${h}x${w} with --batch-size ${batchSize} needs ${(bytes / 2 ** 30).toFixed(1)} GiB for the attention scores of one forward pass ` +
        `(${batchSize} x ${c.numHeads} heads x ${tokens}² tokens x 4 bytes), more than the ${MAX_ATTENTION_BYTES / 2 ** 30} GiB cap: use a smaller size or batch`,
    );
  }
}
