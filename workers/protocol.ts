/** Messages between the pool (main thread) and its workers. Plain data: structured-clone friendly. */
import type { ViTModel } from '../model/weights.js';
import type { TopEntry } from '../engine/postprocess.js';
import type { BackendName, SessionOptions } from '../engine/types.js';

export interface WorkerInit {
  /** Weights are views on SharedArrayBuffers: every worker maps the same memory. */
  model: ViTModel;
  /** 'none': a decode-only worker that feeds a GPU worker (no session, no weights used). */
  backend: BackendName | 'none';
  /** Passed to createSession (precision, threads, output, device). */
  sessionOptions?: SessionOptions;
  /** GPU backends on several devices: each worker takes the next ordinal of `gpus` (slot[0] counts takers). */
  gpus?: number[];
  gpuSlot?: Int32Array;
  /**
   * Workers of this pool whose start has settled (module loaded; session created or failed): slot[0] counts them.
   * A 'ready' task resolves only once it reaches `threads`, so a pool that ready() has answered (or rejected) never
   * terminates a worker in the middle of loading a native module (sharp, onnxruntime, koffi), which can abort the
   * whole process.
   */
  started?: Int32Array;
  threads?: number;
  /**
   * 'close' tasks that have started (slot[0]): each waits until all `closeTasks` of them have (one per run slot,
   * so every worker holds at least one), then disposes its worker's session once, before the pool ends the workers.
   */
  closing?: Int32Array;
  closeTasks?: number;
}

/** Reply to a 'ready' task: the session's describe() line (backend, precision, kernel path, device), where it has one. */
export interface ReadyReply {
  ready: true;
  device?: string;
}


/** One input's outcome; `error` says why it failed (the file is named by the caller). */
export type FileResult = { top: TopEntry[]; error?: undefined } | { top?: undefined; error: string };

/**
 * One image for a worker: a file path, encoded bytes (decoded in the worker), or decoded pixels
 * (interleaved 8-bit, 1 to 4 channels, converted to RGB as PIL's convert('RGB'): gray replicated, alpha dropped).
 */
export type WorkerInput =
  | string
  | { bytes: Uint8Array; name?: string }
  | { pixels: Uint8Array; width: number; height: number; channels: number; name?: string };

export interface ClassifyTask {
  kind: 'classify';
  files: WorkerInput[];
  topK: number;
}

/** The session's output rows (logits or features) per input, no post-processing. */
export interface OutputTask {
  kind: 'output';
  files: WorkerInput[];
}

export interface OutputReply {
  /** [rows that ran, width]. */
  rows: Float32Array;
  slots: ({ row: number } | { error: string })[];
  decodeMs: number;
  forwardMs: number;
}

/** Decode + preprocess only: pixels for the files that worked, errors for the others. */
export interface PreprocessTask {
  kind: 'preprocess';
  files: WorkerInput[];
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
  /** The caller passes the same shared buffer again (RunHints.reusedInput). */
  reusedInput?: boolean;
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
