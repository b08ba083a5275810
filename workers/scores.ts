/** Per-input results of a preprocessed batch. */
import { softmaxTopK } from '../engine/postprocess.js';
import type { FileResult, PreprocessReply } from './protocol.js';


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
