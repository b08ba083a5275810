/** Messages between the pool (main thread) and its workers. Plain data: structured-clone friendly. */
import type { ViTModel } from '../model/weights.js';
import type { TopEntry } from '../engine/postprocess.js';
import type { BackendName, SessionOptions } from '../engine/types.js';

export interface WorkerInit {
  /** Weights are views on SharedArrayBuffers: every worker maps the same memory. */
  model: ViTModel;
  /** 'none': a decode-only worker that feeds a GPU worker (no session, no weights used). */
  backend: BackendName | 'none';
  /** Per-session options (threads, precision). */
  session?: SessionOptions;
}


/** One input's outcome; `error` says why it failed (the file is named by the caller). */
export type FileResult = { top: TopEntry[]; error?: undefined } | { top?: undefined; error: string };

export interface ClassifyTask {
  kind: 'classify';
  files: string[];
  topK: number;
}

/** Decode + preprocess only: pixels for the files that worked, errors for the others. */
export interface PreprocessTask {
  kind: 'preprocess';
  files: string[];
}

export interface PreprocessReply {
  /** [good files, C, H, W] on shared memory. */
  pixels: Float32Array;
  /** Per input: index into the batch, or the error. */
  slots: ({ row: number } | { error: string })[];
  decodeMs: number;
}

export interface ForwardTask {
  kind: 'forward';
  pixels: Float32Array;
  batch: number;
}

export interface ClassifyReply {
  results: FileResult[];
  /** Milliseconds spent decoding + preprocessing, and in the forward pass. */
  decodeMs: number;
  forwardMs: number;
  deviceMs?: number;
}

export interface ForwardReply {
  logits: Float32Array;
  forwardMs: number;
  deviceMs?: number;
}
