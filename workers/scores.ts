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
  return slots.map((s) => ('error' in s ? { error: s.error } : { top: softmaxTopK(logits!.subarray(s.row * width, (s.row + 1) * width), topK, labels) }));
}
