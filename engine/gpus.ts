/**
 * `--gpus all|N|0,2,3`: which device ordinals a GPU backend spreads over. CUDA counts its devices; Dawn's node
 * binding exposes one adapter per process (identical GPUs cannot be told apart), so webgpu takes one.
 */
import type { BackendName } from './types.js';

export async function gpuCount(backend: BackendName): Promise<number> {
  if (backend === 'cuda') {
    const { CudaApi } = await import('./cuda/driver.js');
    return (await CudaApi.get()).deviceCount();
  }
  return backend === 'webgpu' ? 1 : 0;
}

/** Parses a --gpus value against the devices there are. */
export function parseGpus(spec: string, available: number, backend: BackendName): number[] {
  const s = spec.trim();
  let list: number[];
  if (s === 'all') list = Array.from({ length: available }, (_, i) => i);
  else if (/^\d+$/.test(s) && !s.includes(',')) list = Array.from({ length: Number(s) }, (_, i) => i);
  else if (/^\d+(,\d+)*$/.test(s)) list = s.split(',').map(Number);
  else throw new Error(`--gpus ${spec}: expected all, a count, or a comma-separated list of device ordinals`);
  if (!list.length) throw new Error(`--gpus ${spec}: no GPU to run on (${backend} sees ${available})`);
  if (new Set(list).size !== list.length) throw new Error(`--gpus ${spec}: a device is listed twice`);
  const bad = list.filter((i) => i >= available);
  if (bad.length) {
    const why = backend === 'webgpu' ? " (Dawn's node binding exposes one adapter per process: run one process per GPU, each limited to its device, e.g. with VK_LOADER_DEVICE_SELECT)" : '';
    throw new Error(`--gpus ${spec}: ${backend} sees ${available} device(s), no ordinal ${bad.join(', ')}${why}`);
  }
  return list;
}
