/**
 * `--backend auto`: the fastest backend that works here, in a fixed order: cuda (driver, libraries and a device
 * answer), then webgpu on a hardware adapter, then the best installed CPU backend. Probes rule out what cannot
 * run; the caller's own start (a session, a worker pool) is the trial, and a GPU backend whose start fails falls
 * through to the next one. Every skip keeps its reason for the one line that explains the choice.
 */
import { defaultCpuBackend } from './default-cpu.js';
import type { BackendName } from './types.js';

export type BackendRequest = BackendName | 'auto';

export interface AutoChoice {
  requested: 'auto';
  backend: BackendName;
  /** Faster backends passed over, with why, in order. */
  skipped: { backend: string; reason: string }[];
}

/** Probes that rule backends out before a trial; each returns the reason it cannot run, or undefined. */
export interface AutoProbes {
  cuda(): Promise<string | undefined>;
  webgpu(): Promise<string | undefined>;
  cpu(): Promise<BackendName>;
}

async function cudaProbe(): Promise<string | undefined> {
  try {
    const { probeCuda } = await import('./cuda/probe.js');
    const p = await probeCuda();
    return p.ok ? undefined : (p.reason ?? 'unavailable');
  } catch (e) {
    return (e as Error).message;
  }
}

async function webgpuProbe(): Promise<string | undefined> {
  let probeAdapter: typeof import('./webgpu/device.js').probeAdapter;
  try {
    ({ probeAdapter } = await import('./webgpu/device.js'));
  } catch {
    return 'the optional package webgpu is not installed';
  }
  const a = await probeAdapter();
  if (!a.ok) return a.reason;
  if (a.software) return `software adapter ${a.software}`;
  return undefined;
}

/** The best installed CPU backend: defaultCpuBackend() (engine/default-cpu.ts) (onnx when onnxruntime-node loads, else wasm). */
export function bestCpuBackend(): Promise<BackendName> {
  return defaultCpuBackend();
}

export const defaultProbes: AutoProbes = { cuda: cudaProbe, webgpu: webgpuProbe, cpu: bestCpuBackend };

/** A reason cut to a clause for the one-line summary ("libcuda.so.1 not found", "no WebGPU adapter"). */
export function briefReason(reason: string): string {
  const lib = /cannot load [^;]*?(lib[\w.+-]+\.so[\w.]*)/.exec(reason) ?? /(lib[\w.+-]+\.so[\w.]*) not found/.exec(reason);
  if (lib) return `${lib[1]} not found`;
  const r = reason.replace(/^(cuda|webgpu) backend: /, '').replace(/^engine\/\w+: /, '');
  const first = r.split(/\s*[:;(]/)[0]!.trim();
  return first.length > 80 ? `${first.slice(0, 77)}...` : first;
}

/**
 * Starts the first backend in the auto order that works: `start` is the trial. A GPU backend whose probe or
 * start fails is skipped with its reason; the CPU backend's failure is the error (after wasm, nothing is left).
 */
export async function startAuto<T>(start: (backend: BackendName) => Promise<T>, probes: AutoProbes = defaultProbes): Promise<{ value: T; choice: AutoChoice }> {
  const skipped: AutoChoice['skipped'] = [];
  const tryStart = async (backend: BackendName): Promise<{ value: T; choice: AutoChoice } | undefined> => {
    try {
      return { value: await start(backend), choice: { requested: 'auto', backend, skipped } };
    } catch (e) {
      skipped.push({ backend, reason: `failed to start: ${briefReason((e as Error).message)}` });
      return undefined;
    }
  };
  for (const gpu of ['cuda', 'webgpu'] as const) {
    const why = await probes[gpu]();
    if (why !== undefined) skipped.push({ backend: gpu, reason: briefReason(why) });
    else {
      const r = await tryStart(gpu);
      if (r) return r;
    }
  }
  const cpu = await probes.cpu();
  if (cpu !== 'wasm') {
    const r = await tryStart(cpu);
    if (r) return r;
  }
  return { value: await start('wasm'), choice: { requested: 'auto', backend: 'wasm', skipped } };
}

/** The stderr line: `backend auto -> wasm (cuda: libcuda.so.1 not found; webgpu: software adapter llvmpipe)`. */
export function autoLine(c: AutoChoice): string {
  const why = c.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
  return `backend auto -> ${c.backend}${why ? ` (${why})` : ''}`;
}
