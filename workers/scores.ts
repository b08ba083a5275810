/** Softmax top-k over one row of logits: the scores `vit classify` prints. */
import { topK } from '../engine/compare.js';
import type { FileResult, PreprocessReply, TopEntry } from './protocol.js';

export function softmaxTopK(logits: Float32Array, k: number, labels?: string[]): TopEntry[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return topK(logits, k).map((i) => ({
    index: i,
    ...(labels?.[i] !== undefined ? { label: labels[i] } : {}),
    score: Number((Math.exp(logits[i]! - max) / sum).toPrecision(6)),
  }));
}

/** One result per input of a preprocessed batch: top-k for the rows that ran, the error for the others. */
export function resultsFromSlots(
  slots: PreprocessReply['slots'],
  logits: Float32Array | undefined,
  width: number,
  topK: number,
  labels?: string[],
): FileResult[] {
  return slots.map((s) => {
    if ('error' in s) return { error: s.error };
    const row = logits!.subarray(s.row * width, (s.row + 1) * width);
    // Overflow in the forward pass is an error for this image, never a result.
    const bad = row.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) return { error: `the model's output is not finite (${row[bad]} at index ${bad}): no result` };
    return { top: softmaxTopK(row, topK, labels) };
  });
}
