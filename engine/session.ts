/** createSession: the backend for a name, loaded on demand. */
import type { ViTModel } from '../model/weights.js';
import type { BackendRequest } from './auto.js';
import type { BackendName, InferenceSession, SessionOptions } from './types.js';

export { ALL_BACKENDS, ALL_PRECISIONS, defaultPrecision, isGpuBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

export { autoLine, bestCpuBackend, type AutoChoice, type BackendRequest } from './auto.js';

/** 'auto' tries the backends in the auto order (engine/auto.ts); `session.backend` says which one started. */
export async function createSession(model: ViTModel, backend: BackendRequest, opts: SessionOptions = {}): Promise<InferenceSession> {
  if (backend === 'auto') {
    const { startAuto } = await import('./auto.js');
    return (await startAuto((b) => createSession(model, b, opts))).value;
  }
  if (backend === 'cuda') {
    const { createCudaSession } = await import('./cuda/session.js');
    return createCudaSession(model, opts);
  }
  if (opts.precision && opts.precision !== 'fp32') throw new Error(`--precision ${opts.precision}: the ${backend} backend runs fp32 only`);
  if (backend === 'webgpu') {
    const { createWebGPUSession } = await import('./webgpu/session.js').catch((e: unknown) => {
      throw missingPackage(e, 'webgpu', 'backend "webgpu" needs the optional package webgpu (Dawn, ~130 MB): npm install webgpu');
    });
    return createWebGPUSession(model, opts);
  }
  const { createTfjsSession } = await import('./tfjs/session.js');
  return createTfjsSession(model, backend, opts);
}

/** An optional package that is not installed, as a one-line hint; any other load error as it is. */
export function missingPackage(e: unknown, pkg: string, hint: string): Error {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(`'${pkg}'`)) return new Error(hint);
  return e instanceof Error ? e : new Error(String(e));
}
