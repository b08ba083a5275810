/**
 * What every backend implements: a session owns a model's weights on one device and runs batches of
 * preprocessed pixels at the model's image size (config.imageSize; resample the position embedding with
 * withImageSize first to run at another size).
 */
import type { ViTModel } from '../model/weights.js';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | 'onnx' | 'webgpu';

/** Arithmetic of the onnx backend's transformer-block GEMMs (the other backends are fp32 only). */
export type Precision = 'fp32' | 'int8';

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
  dispose(): Promise<void>;
}

export interface SessionOptions {
  /** wasm: threads for XNNPACK; onnx: onnxruntime intra-op threads (default 1: parallelism comes from the worker pool). */
  threads?: number;
  /** onnx: 'int8' quantises the block GEMMs' weights (see engine/onnx/graph.ts); default fp32. */
  precision?: Precision;
  /** webgpu: which adapter index, for machines with several GPUs. */
  gpuIndex?: number;
}

export const ALL_BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'tensorflow', 'onnx', 'webgpu'];

export function isGpuBackend(b: BackendName): boolean {
  return b === 'webgpu';
}
