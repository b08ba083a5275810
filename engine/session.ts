/** createSession: the backend for a name, loaded on demand. */
import type { ViTModel } from '../model/weights.js';
import { loadOrt } from './onnx/runtime.js';
import type { BackendRequest } from './auto.js';
import { defaultPrecision, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

export { ALL_BACKENDS, ALL_PRECISIONS, defaultPrecision, isGpuBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './types.js';

export { autoLine, bestCpuBackend, type AutoChoice, type BackendRequest } from './auto.js';

/** Precisions each backend implements (its defaultPrecision among them). */
const PRECISIONS: Record<BackendName, readonly Precision[]> = {
  wasm: ['fp32'],
  cpu: ['fp32'],
  tensorflow: ['fp32'],
  webgpu: ['fp32', 'fp16'],
  onnx: ['fp32', 'int8'],
  cuda: ['fp32', 'tf32', 'bf16', 'fp16'],
};

/** Throws naming the precisions `backend` has when it lacks `precision` (default: the backend's own). */
export function checkPrecision(backend: BackendName, precision: Precision = defaultPrecision(backend)): void {
  const ok = PRECISIONS[backend];
  if (!ok.includes(precision)) throw new Error(`backend ${backend} has no precision ${precision} (it has: ${ok.join(', ')})`);
}

/** 'auto' tries the backends in the auto order (engine/auto.ts); `session.backend` says which one started. */
export async function createSession(model: ViTModel, backend: BackendRequest, opts: SessionOptions = {}): Promise<InferenceSession> {
  if (backend === 'auto') {
    const { startAuto } = await import('./auto.js');
    return (await startAuto((b) => createSession(model, b, opts))).value;
  }
  checkPrecision(backend, opts.precision);
  if (backend === 'cuda') {
    const { createCudaSession } = await import('./cuda/session.js');
    return createCudaSession(model, opts);
  }
  if (backend === 'webgpu') {
    const { createWebGPUSession } = await import('./webgpu/session.js').catch((e: unknown) => {
      throw missingPackage(e, 'webgpu', 'backend "webgpu" needs the optional package webgpu (Dawn, ~130 MB): npm install webgpu');
    });
    return createWebGPUSession(model, opts);
  }
  if (backend === 'onnx') {
    const { createOnnxSession } = await import('./onnx/session.js');
    return createOnnxSession(model, opts);
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

/** Fails with the one-line install hint when a backend's optional package is missing (onnx: onnxruntime-node). */
export async function checkBackend(backend: BackendName): Promise<void> {
  if (backend === 'onnx') await loadOrt();
}

/** The CPU backend to use when none is named: onnx where onnxruntime-node loads, else wasm. */
export { defaultCpuBackend } from './default-cpu.js';
