/**
 * What the cuda backend finds on this machine, without building a session: the libraries it would load (and
 * every path it would try), the driver's CUDA version, and each device's name, compute capability and memory.
 * For `vit doctor` and `--backend auto`; never throws.
 */
import { CudaApi, describeSearch } from './driver.js';

export interface CudaProbe {
  ok: boolean;
  /** Why the backend cannot run here (first failure), when !ok. */
  reason?: string;
  /** A limitation that still lets it run. */
  note?: string;
  platform: string;
  /** Paths each toolkit library would be tried at, in order. */
  search: { lib: string; candidates: string[] }[];
  libraries?: { driver: string; cublasLt: string; nvrtc: string };
  /** Driver API version as CUDA writes it (13000 = 13.0). */
  driverVersion?: number;
  nvrtcVersion?: string;
  cublasLtVersion?: number;
  devices: { ordinal: number; name: string; computeCapability: string; memoryGiB: number; multiprocessors: number }[];
}

export async function probeCuda(): Promise<CudaProbe> {
  const out: CudaProbe = { ok: false, platform: process.platform, search: [], devices: [] };
  try {
    out.search = describeSearch();
  } catch {
    // listing folders is best effort
  }
  try {
    const api = await CudaApi.get();
    const r = api.report;
    out.libraries = { driver: r.driver.path, cublasLt: r.cublasLt.path, nvrtc: r.nvrtc.path };
    out.driverVersion = r.driver.version;
    out.nvrtcVersion = r.nvrtc.version.join('.');
    out.cublasLtVersion = r.cublasLt.version;
    const n = api.deviceCount();
    for (let i = 0; i < n; i++) {
      const d = api.device(i);
      out.devices.push({
        ordinal: i,
        name: d.name,
        computeCapability: d.computeCapability.join('.'),
        memoryGiB: Math.round((d.totalMemory / 2 ** 30) * 10) / 10,
        multiprocessors: d.multiprocessors,
      });
    }
    if (!n) out.reason = 'the driver reports no CUDA device';
    else if (out.devices.every((d) => Number(d.computeCapability.split('.')[0]) < 8)) out.note = 'compute capability below 8.0: fp32 only (tf32, bf16 and fp16 need 8.0+)';
    out.ok = !out.reason;
  } catch (e) {
    out.reason = (e as Error).message;
  }
  return out;
}

/** Driver API version 13000 -> "13.0". */
export function cudaVersionString(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
