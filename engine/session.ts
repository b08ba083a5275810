/** createSession: the backend for a name, loaded on demand. */
import type { ViTModel } from '../model/weights.js';
import type { BackendName, InferenceSession, SessionOptions } from './types.js';
import { loadOrt, ortAvailable } from './onnx/runtime.js';

export { ALL_BACKENDS, isGpuBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

export async function createSession(model: ViTModel, backend: BackendName, opts: SessionOptions = {}): Promise<InferenceSession> {
  if (opts.precision && opts.precision !== 'fp32' && backend !== 'onnx') throw new Error(`--precision ${opts.precision} is only for backend "onnx"`);
  if (backend === 'webgpu') {
    const { createWebGPUSession } = await import('./webgpu/session.js');
    return createWebGPUSession(model, opts);
  }
  if (backend === 'onnx') {
    const { createOnnxSession } = await import('./onnx/session.js');
    return createOnnxSession(model, opts);
  }
  const { createTfjsSession } = await import('./tfjs/session.js');
  return createTfjsSession(model, backend, opts);
}

/** Fails with the one-line install hint when a backend's optional package is missing (onnx: onnxruntime-node). */
export async function checkBackend(backend: BackendName): Promise<void> {
  if (backend === 'onnx') await loadOrt();
}

/** The CPU backend to use when none is named: onnx where onnxruntime-node loads, else wasm. */
export async function defaultCpuBackend(): Promise<BackendName> {
  return (await ortAvailable()) ? 'onnx' : 'wasm';
}
