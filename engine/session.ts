/** createSession: the backend for a name, loaded on demand. */
import type { ViTModel } from '../model/weights.js';
import type { BackendName, InferenceSession, Precision, SessionOptions } from './types.js';

export { ALL_BACKENDS, ALL_PRECISIONS, isGpuBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

/** Precisions each backend implements (fp32 first: the default). */
const PRECISIONS: Record<BackendName, readonly Precision[]> = {
  wasm: ['fp32'],
  cpu: ['fp32'],
  tensorflow: ['fp32'],
  webgpu: ['fp32', 'fp16'],
};

/** Throws naming the precisions `backend` has when it lacks `precision`. */
export function checkPrecision(backend: BackendName, precision: Precision = 'fp32'): void {
  const ok = PRECISIONS[backend];
  if (!ok.includes(precision)) throw new Error(`backend ${backend} has no precision ${precision} (it has: ${ok.join(', ')})`);
}

export async function createSession(model: ViTModel, backend: BackendName, opts: SessionOptions = {}): Promise<InferenceSession> {
  checkPrecision(backend, opts.precision);
  if (backend === 'webgpu') {
    const { createWebGPUSession } = await import('./webgpu/session.js');
    return createWebGPUSession(model, opts);
  }
  const { createTfjsSession } = await import('./tfjs/session.js');
  return createTfjsSession(model, backend, opts);
}
