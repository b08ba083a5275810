/** The default CPU backend, shared by engine/session.ts (defaultCpuBackend) and engine/auto.ts (bestCpuBackend). */
import { ortAvailable } from './onnx/runtime.js';
import type { BackendName } from './types.js';

/** The CPU backend to use when none is named: onnx where onnxruntime-node loads, else wasm. */
export async function defaultCpuBackend(): Promise<BackendName> {
  return (await ortAvailable()) ? 'onnx' : 'wasm';
}
