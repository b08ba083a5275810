/** createSession: the backend for a name, loaded on demand. */
import type { ViTModel } from '../model/weights.js';
import type { BackendName, InferenceSession, SessionOptions } from './types.js';

export { ALL_BACKENDS, ALL_PRECISIONS, defaultPrecision, isGpuBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

export async function createSession(model: ViTModel, backend: BackendName, opts: SessionOptions = {}): Promise<InferenceSession> {
  if (backend === 'cuda') {
    const { createCudaSession } = await import('./cuda/session.js');
    return createCudaSession(model, opts);
  }
  if (opts.precision && opts.precision !== 'fp32') throw new Error(`--precision ${opts.precision}: the ${backend} backend runs fp32 only`);
  if (backend === 'webgpu') {
    const { createWebGPUSession } = await import('./webgpu/session.js');
    return createWebGPUSession(model, opts);
  }
  const { createTfjsSession } = await import('./tfjs/session.js');
  return createTfjsSession(model, backend, opts);
}
