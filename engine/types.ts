/**
 * What every backend implements: a session owns a model's weights on one device and runs batches of
 * preprocessed pixels at the model's image size (config.imageSize; resample the position embedding with
 * withImageSize first to run at another size).
 */
import type { ViTModel } from '../model/weights.js';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | 'webgpu';

/** Arithmetic a session runs in. fp32 everywhere; webgpu also fp16 (f16 storage, f32 accumulation). */
export type Precision = 'fp32' | 'tf32' | 'bf16' | 'fp16';

export const ALL_PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'bf16', 'fp16'];

export interface InferenceSession {
  readonly backend: BackendName;
  readonly model: ViTModel;
  /**
   * pixels: float32 [batch, channels, height, width] at config.imageSize.
   * Returns logits [batch, numClasses] (final class-token features [batch, hiddenSize] for a headless model).
   */
  run(pixels: Float32Array, batch: number): Promise<Float32Array>;
  /** Device-side milliseconds of the last run, where the backend can measure them. */
  lastDeviceMs?(): number | undefined;
  /** What runs, for reports: backend, precision, kernel path and device. */
  describe?(): string;
  dispose(): Promise<void>;
}

export interface SessionOptions {
  /** wasm backend: threads for XNNPACK (default 1: parallelism comes from the worker pool). */
  threads?: number;
  /** webgpu: which adapter index, for machines with several GPUs. */
  gpuIndex?: number;
  /** Default fp32. Backends refuse precisions they do not implement. */
  precision?: Precision;
}

export const ALL_BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'tensorflow', 'webgpu'];

export function isGpuBackend(b: BackendName): boolean {
  return b === 'webgpu';
}
