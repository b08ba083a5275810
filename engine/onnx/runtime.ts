/**
 * onnxruntime-node, loaded on demand: an optional dependency. Typed here by the few calls we make, so the
 * project builds without it.
 */

export const ONNX_HINT = 'backend "onnx" needs onnxruntime-node, an optional dependency that is not installed: npm install onnxruntime-node';

export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSessionOptions {
  executionProviders?: string[];
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  enableCpuMemArena?: boolean;
  optimizedModelFilePath?: string;
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  /** 0 verbose .. 4 fatal. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  extra?: Record<string, unknown>;
}
export interface OrtInferenceSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
  endProfiling?(): void;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtInferenceSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: Record<string, string> };
}

/**
 * The module name to import. VIT_TEST_ONNXRUNTIME_MODULE replaces it (tests point it at a missing package to
 * see the backend as a user without onnxruntime-node does).
 */
function moduleName(): string {
  return process.env.VIT_TEST_ONNXRUNTIME_MODULE || 'onnxruntime-node';
}

let loading: Promise<OrtModule> | undefined;

/** The onnxruntime-node module, or an Error whose message is ONNX_HINT when it is not installed. */
export function loadOrt(): Promise<OrtModule> {
  loading ??= (async () => {
    const name = moduleName();
    try {
      const m = (await import(name)) as { default?: OrtModule } & OrtModule;
      return m.default ?? m;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error(ONNX_HINT);
      throw new Error(`${name} failed to load: ${(e as Error).message.split('\n')[0]}`);
    }
  })();
  return loading;
}

/** Whether onnxruntime-node loads in this process. */
export async function ortAvailable(): Promise<boolean> {
  try {
    await loadOrt();
    return true;
  } catch {
    return false;
  }
}
