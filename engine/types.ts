/**
 * What every backend implements: a session owns a model's weights on one device and runs batches of
 * preprocessed pixels at the model's image size (config.imageSize; resample the position embedding with
 * withImageSize first to run at another size).
 */
import type { ModelOutput } from '../model/shapes.js';
import type { ViTModel } from '../model/weights.js';

export type { ModelOutput } from '../model/shapes.js';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | 'onnx' | 'webgpu' | 'cuda';

/**
 * Arithmetic a session runs in. fp32 everywhere; webgpu also fp16 (f16 storage, f32 accumulation);
 * cuda all four floating-point ones; onnx int8 (block GEMM weights quantised per column, activations per
 * tensor at run time). Which backend takes which: checkPrecision in engine/session.ts.
 */
export type Precision = 'fp32' | 'tf32' | 'bf16' | 'fp16' | 'int8';
export const ALL_PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'bf16', 'fp16', 'int8'];

export interface InferenceSession {
  readonly backend: BackendName;
  readonly model: ViTModel;
  /** What run returns per image (SessionOptions.output). */
  readonly output: ModelOutput;
  /**
   * pixels: float32 [batch, channels, height, width] at config.imageSize.
   * Returns [batch, outputWidth(config, output)]: logits, or 'cls' / 'mean' features (model/shapes.ts).
   */
  run(pixels: Float32Array, batch: number, hints?: RunHints): Promise<Float32Array>;
  /** Device-side milliseconds of the last run, where the backend can measure them. */
  lastDeviceMs?(): number | undefined;
  /** What runs where, in one line, for reports: backend, precision, kernel path and device ("cuda bf16 on NVIDIA H100 ..."). */
  describe?(): string;
  dispose(): Promise<void>;
}

/** What a caller knows about a run's input; backends may ignore it. */
export interface RunHints {
  /**
   * The pixels sit in a SharedArrayBuffer that later runs pass again (a benchmark's batch): cuda page-locks it once
   * and uploads from it by DMA, until the session is disposed.
   */
  reusedInput?: boolean;
}

export interface SessionOptions {
  /** wasm: threads for XNNPACK; onnx: onnxruntime intra-op threads (default 1: parallelism comes from the worker pool). */
  threads?: number;
  /** webgpu: which adapter index; cuda: which device ordinal. */
  gpuIndex?: number;
  /** Default defaultPrecision(backend) (cuda bf16, the rest fp32). Backends refuse precisions they do not implement. */
  precision?: Precision;
  /** What run returns: 'logits' (default), or 'cls' / 'mean' features (see ModelOutput in model/shapes.ts). */
  output?: ModelOutput;
}

export const ALL_BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'tensorflow', 'onnx', 'webgpu', 'cuda'];

/** The precision a backend runs when none is asked for (cuda: bf16, measured to keep every clear top-1). */
export function defaultPrecision(b: BackendName): Precision {
  return b === 'cuda' ? 'bf16' : 'fp32';
}

export function isGpuBackend(b: BackendName): boolean {
  return b === 'webgpu' || b === 'cuda';
}
