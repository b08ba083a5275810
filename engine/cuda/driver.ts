/**
 * The CUDA driver API, NVRTC and cuBLASLt through koffi (FFI; no native addon is built). One `CudaApi` per
 * process: the libraries are loaded once; each call's status is checked and turned into a CudaError by name.
 * Device pointers are plain numbers (x86-64 addresses fit in 2^53).
 */
import { dirname, join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { CudaError, CUDA_ERROR_NOT_READY, type CudaLibrary } from './errors.js';
import { candidateDirs, INSTALL_HINT, ldconfigPaths, libraryCandidates, type ToolkitLibrary } from './libraries.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = (...args: any[]) => any;
type Koffi = typeof import('koffi');
export type Handle = unknown;

export const KOFFI_HINT = 'the cuda backend needs the optional dependency koffi: `npm install koffi`';

async function loadKoffi(): Promise<Koffi> {
  try {
    const m = (await import('koffi')) as unknown as { default?: Koffi } & Koffi;
    return m.default ?? m;
  } catch {
    throw new Error(KOFFI_HINT);
  }
}

export interface DeviceInfo {
  ordinal: number;
  name: string;
  computeCapability: [number, number];
  multiprocessors: number;
  totalMemory: number;
}

export interface LibraryReport {
  driver: { path: string; version: number };
  cublasLt: { path: string; version: number };
  nvrtc: { path: string; version: [number, number] };
}

function bind(lib: any, sigs: Record<string, string>): Record<string, Fn> {
  const out: Record<string, Fn> = {};
  for (const [name, sig] of Object.entries(sigs)) out[name] = lib.func(sig);
  return out;
}

const DRIVER = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *v)',
  cuGetErrorName: 'int cuGetErrorName(int err, _Out_ const char **name)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *n)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *dev, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(_Out_ uint8_t *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *v, int attr, int dev)',
  cuDeviceTotalMem: 'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  cuDevicePrimaryCtxRelease: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuDevicePrimaryCtxReset: 'int cuDevicePrimaryCtxReset_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuMemGetInfo: 'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  cuMemAlloc: 'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  cuMemFree: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemHostAlloc: 'int cuMemHostAlloc(_Out_ void **p, size_t bytes, unsigned int flags)',
  cuMemFreeHost: 'int cuMemFreeHost(void *p)',
  cuMemHostRegister: 'int cuMemHostRegister_v2(void *p, size_t bytes, unsigned int flags)',
  cuMemHostUnregister: 'int cuMemHostUnregister(void *p)',
  cuMemcpyHtoD: 'int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)',
  cuMemcpyDtoH: 'int cuMemcpyDtoH_v2(_Out_ void *dst, uint64_t src, size_t bytes)',
  cuMemcpyHtoDAsync: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, void *src, size_t bytes, void *stream)',
  cuMemcpyDtoHAsync: 'int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)',
  cuMemcpyDtoDAsync: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  cuStreamCreate: 'int cuStreamCreate(_Out_ void **s, unsigned int flags)',
  cuStreamDestroy: 'int cuStreamDestroy_v2(void *s)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *s)',
  cuEventCreate: 'int cuEventCreate(_Out_ void **e, unsigned int flags)',
  cuEventDestroy: 'int cuEventDestroy_v2(void *e)',
  cuEventRecord: 'int cuEventRecord(void *e, void *s)',
  cuEventQuery: 'int cuEventQuery(void *e)',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ void **mod, const void *image)',
  cuModuleUnload: 'int cuModuleUnload(void *mod)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ void **f, void *mod, const char *name)',
  cuLaunchKernel:
    'int cuLaunchKernel(void *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, void *stream, void **params, void **extra)',
  cuStreamBeginCapture: 'int cuStreamBeginCapture_v2(void *s, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(void *s, _Out_ void **graph)',
  cuGraphInstantiate: 'int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, unsigned long long flags)',
  cuGraphLaunch: 'int cuGraphLaunch(void *exec, void *s)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(void *exec)',
  cuGraphDestroy: 'int cuGraphDestroy(void *graph)',
};

const NVRTC = {
  nvrtcVersion: 'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
  nvrtcCreateProgram: 'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int nh, void *h, void *hn)',
  nvrtcDestroyProgram: 'int nvrtcDestroyProgram(void **prog)',
  nvrtcCompileProgram: 'int nvrtcCompileProgram(void *prog, int n, const char **opts)',
  nvrtcGetProgramLogSize: 'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)',
  nvrtcGetProgramLog: 'int nvrtcGetProgramLog(void *prog, _Out_ uint8_t *log)',
  nvrtcGetCUBINSize: 'int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)',
  nvrtcGetCUBIN: 'int nvrtcGetCUBIN(void *prog, _Out_ uint8_t *bin)',
  nvrtcGetPTXSize: 'int nvrtcGetPTXSize(void *prog, _Out_ size_t *size)',
  nvrtcGetPTX: 'int nvrtcGetPTX(void *prog, _Out_ uint8_t *ptx)',
};

const CUBLASLT = {
  cublasLtGetVersion: 'size_t cublasLtGetVersion()',
  cublasLtCreate: 'int cublasLtCreate(_Out_ void **h)',
  cublasLtDestroy: 'int cublasLtDestroy(void *h)',
  cublasLtMatmulDescCreate: 'int cublasLtMatmulDescCreate(_Out_ void **d, int computeType, int scaleType)',
  cublasLtMatmulDescDestroy: 'int cublasLtMatmulDescDestroy(void *d)',
  cublasLtMatmulDescSetAttribute: 'int cublasLtMatmulDescSetAttribute(void *d, int attr, const void *buf, size_t size)',
  cublasLtMatrixLayoutCreate: 'int cublasLtMatrixLayoutCreate(_Out_ void **l, int type, uint64_t rows, uint64_t cols, int64_t ld)',
  cublasLtMatrixLayoutDestroy: 'int cublasLtMatrixLayoutDestroy(void *l)',
  cublasLtMatmulPreferenceCreate: 'int cublasLtMatmulPreferenceCreate(_Out_ void **p)',
  cublasLtMatmulPreferenceDestroy: 'int cublasLtMatmulPreferenceDestroy(void *p)',
  cublasLtMatmulPreferenceSetAttribute: 'int cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t size)',
  cublasLtMatmulAlgoGetHeuristic:
    'int cublasLtMatmulAlgoGetHeuristic(void *h, void *op, void *a, void *b, void *c, void *d, void *pref, int n, _Out_ uint8_t *results, _Out_ int *count)',
  cublasLtMatmul:
    'int cublasLtMatmul(void *h, void *op, const void *alpha, uint64_t A, void *Ad, uint64_t B, void *Bd, const void *beta, uint64_t C, void *Cd, uint64_t D, void *Dd, const void *algo, uint64_t ws, size_t wsSize, void *stream)',
};

const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

/** Loads the first candidate that dlopen accepts; the error lists every path tried. */
function loadFirst(koffi: Koffi, what: string, candidates: string[], hint: string): { lib: any; path: string } {
  const errors: string[] = [];
  for (const p of candidates) {
    try {
      return { lib: koffi.load(p), path: p };
    } catch (e) {
      errors.push(`${p}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`cuda backend: cannot load ${what}; ${hint}. Tried: ${errors.join('; ')}`);
}

/** NVRTC opens its builtins library by soname at compile time; load it from NVRTC's own folder first. */
function preloadNvrtcBuiltins(koffi: Koffi, nvrtcPath: string): void {
  if (!nvrtcPath.includes('/')) return;
  const dir = dirname(nvrtcPath);
  try {
    for (const n of readdirSync(dir)) if (/^libnvrtc-builtins\.so\.\d+\.\d+$/.test(n)) koffi.load(join(dir, n));
  } catch {
    // the loader's own search may still find it
  }
}

export class CudaApi {
  readonly cu: Record<keyof typeof DRIVER, Fn>;
  readonly nvrtc: Record<keyof typeof NVRTC, Fn>;
  readonly lt: Record<keyof typeof CUBLASLT, Fn>;

  private readonly libCu: any;

  private constructor(
    readonly koffi: Koffi,
    libs: { cu: any; nvrtc: any; lt: any },
    readonly report: LibraryReport,
  ) {
    this.libCu = libs.cu;
    this.cu = bind(libs.cu, DRIVER) as CudaApi['cu'];
    this.nvrtc = bind(libs.nvrtc, NVRTC) as CudaApi['nvrtc'];
    this.lt = bind(libs.lt, CUBLASLT) as CudaApi['lt'];
  }

  private static loading: Promise<CudaApi> | undefined;

  /** The process-wide API; the first call loads the libraries and initialises the driver. */
  static get(): Promise<CudaApi> {
    CudaApi.loading ??= CudaApi.load();
    CudaApi.loading.catch(() => (CudaApi.loading = undefined));
    return CudaApi.loading;
  }

  private static async load(): Promise<CudaApi> {
    if (process.platform !== 'linux') throw new Error(`cuda backend: supported on Linux only (this is ${process.platform}); use --backend webgpu`);
    const koffi = await loadKoffi();
    const driverPath = process.env.VIT_LIBCUDA ?? 'libcuda.so.1';
    const cu = loadFirst(koffi, 'the NVIDIA driver library libcuda.so.1', [driverPath], 'install the NVIDIA driver (it provides libcuda.so.1), or set VIT_LIBCUDA');
    const dirs = candidateDirs();
    const ld = ldconfigPaths();
    const pick = (l: ToolkitLibrary) => libraryCandidates(l, dirs, ld, existsSync);
    const nvrtc = loadFirst(koffi, 'NVRTC (libnvrtc.so)', pick('nvrtc'), INSTALL_HINT);
    preloadNvrtcBuiltins(koffi, nvrtc.path);
    const lt = loadFirst(koffi, 'cuBLASLt (libcublasLt.so)', pick('cublasLt'), INSTALL_HINT);
    const api = new CudaApi(koffi, { cu: cu.lib, nvrtc: nvrtc.lib, lt: lt.lib }, {
      driver: { path: cu.path, version: 0 },
      cublasLt: { path: lt.path, version: 0 },
      nvrtc: { path: nvrtc.path, version: [0, 0] },
    });
    api.check('driver', api.cu.cuInit(0), 'cuInit', 'initialising the CUDA driver');
    const v = [0];
    api.check('driver', api.cu.cuDriverGetVersion(v), 'cuDriverGetVersion');
    api.report.driver.version = v[0]!;
    const mj = [0], mn = [0];
    api.check('nvrtc', api.nvrtc.nvrtcVersion(mj, mn), 'nvrtcVersion');
    api.report.nvrtc.version = [mj[0]!, mn[0]!];
    api.report.cublasLt.version = Number(api.lt.cublasLtGetVersion());
    return api;
  }

  /** Throws a CudaError for a non-zero status. */
  check(lib: CudaLibrary, status: number, call: string, what?: string): void {
    if (status !== 0) throw new CudaError(lib, status, call, what);
  }

  deviceCount(): number {
    const n = [0];
    this.check('driver', this.cu.cuDeviceGetCount(n), 'cuDeviceGetCount');
    return n[0]!;
  }

  device(ordinal: number): DeviceInfo {
    const count = this.deviceCount();
    if (ordinal < 0 || ordinal >= count) throw new Error(`cuda backend: no CUDA device ${ordinal} (this machine has ${count})`);
    const dev = [0];
    this.check('driver', this.cu.cuDeviceGet(dev, ordinal), 'cuDeviceGet');
    const nameBuf = Buffer.alloc(256);
    this.check('driver', this.cu.cuDeviceGetName(nameBuf, 256, dev[0]), 'cuDeviceGetName');
    const attr = (a: number) => {
      const v = [0];
      this.check('driver', this.cu.cuDeviceGetAttribute(v, a, dev[0]), 'cuDeviceGetAttribute');
      return v[0]!;
    };
    const mem = [0];
    this.check('driver', this.cu.cuDeviceTotalMem(mem, dev[0]), 'cuDeviceTotalMem');
    return {
      ordinal,
      name: nameBuf.toString('utf8').replace(/\0.*$/s, ''),
      computeCapability: [attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)],
      multiprocessors: attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
      totalMemory: Number(mem[0]),
    };
  }

  /** Retains the device's primary context and makes it current on this thread. */
  retainContext(ordinal: number): Handle {
    const ctx = [null];
    this.check('driver', this.cu.cuDevicePrimaryCtxRetain(ctx, ordinal), 'cuDevicePrimaryCtxRetain');
    this.check('driver', this.cu.cuCtxSetCurrent(ctx[0]), 'cuCtxSetCurrent');
    return ctx[0];
  }

  memInfo(): { free: number; total: number } {
    const f = [0], t = [0];
    this.check('driver', this.cu.cuMemGetInfo(f, t), 'cuMemGetInfo');
    return { free: Number(f[0]), total: Number(t[0]) };
  }

  alloc(bytes: number, what: string): number {
    const p = [0];
    this.check('driver', this.cu.cuMemAlloc(p, Math.max(bytes, 256)), 'cuMemAlloc', `allocating ${(bytes / 2 ** 20).toFixed(1)} MiB for ${what}`);
    return Number(p[0]);
  }

  free(ptr: number): void {
    this.check('driver', this.cu.cuMemFree(ptr), 'cuMemFree');
  }

  upload(dst: number, src: ArrayBufferView): void {
    this.check('driver', this.cu.cuMemcpyHtoD(dst, src, src.byteLength), 'cuMemcpyHtoD');
  }

  download(dst: ArrayBufferView, src: number): void {
    this.check('driver', this.cu.cuMemcpyDtoH(dst, src, dst.byteLength), 'cuMemcpyDtoH');
  }

  /** Page-locked host memory and an ArrayBuffer view of it (no copy). */
  hostAlloc(bytes: number): { ptr: Handle; view: ArrayBuffer } {
    const p = [null];
    this.check('driver', this.cu.cuMemHostAlloc(p, Math.max(bytes, 16), 0), 'cuMemHostAlloc', `allocating ${(bytes / 2 ** 20).toFixed(1)} MiB of pinned host memory`);
    return { ptr: p[0], view: this.koffi.view(p[0], Math.max(bytes, 16)) };
  }

  stream(): Handle {
    const s = [null];
    this.check('driver', this.cu.cuStreamCreate(s, 1 /* CU_STREAM_NON_BLOCKING */), 'cuStreamCreate');
    return s[0];
  }

  event(timing: boolean): Handle {
    const e = [null];
    this.check('driver', this.cu.cuEventCreate(e, timing ? 0 : 2 /* CU_EVENT_DISABLE_TIMING */), 'cuEventCreate');
    return e[0];
  }

  /** True once the event completed; throws a CudaError if the work before it failed. */
  eventDone(e: Handle): boolean {
    const r = this.cu.cuEventQuery(e) as number;
    if (r === CUDA_ERROR_NOT_READY) return false;
    this.check('driver', r, 'cuEventQuery', 'running the forward pass');
    return true;
  }

  elapsedMs(start: Handle, end: Handle): number {
    const ms = [0];
    this.check('driver', this.elapsed(ms, start, end), 'cuEventElapsedTime');
    return ms[0]!;
  }

  private elapsedFn: Fn | undefined;
  private elapsed(out: number[], a: Handle, b: Handle): number {
    if (!this.elapsedFn) {
      for (const name of ['cuEventElapsedTime_v2', 'cuEventElapsedTime']) {
        try {
          this.elapsedFn = this.libCu.func(`int ${name}(_Out_ float *ms, void *a, void *b)`);
        } catch {
          // try the next name
        }
        if (this.elapsedFn) break;
      }
    }
    return this.elapsedFn ? (this.elapsedFn(out, a, b) as number) : 0;
  }

  /** Compiles CUDA C to a loaded module: a cubin for this device's architecture, else PTX for the driver to JIT. */
  compile(source: string, name: string, cc: [number, number]): { module: Handle; ms: number; log: string } {
    const t0 = performance.now();
    const arch = `${cc[0]}${cc[1]}`;
    let lastLog = '';
    for (const [opt, binary] of [[`--gpu-architecture=sm_${arch}`, true], [`--gpu-architecture=compute_${arch}`, false]] as const) {
      const prog = [null];
      this.check('nvrtc', this.nvrtc.nvrtcCreateProgram(prog, source, name, 0, null, null), 'nvrtcCreateProgram');
      try {
        const opts = [opt, '--std=c++17', '-default-device'];
        const r = this.nvrtc.nvrtcCompileProgram(prog[0], opts.length, opts) as number;
        const ls = [0];
        this.nvrtc.nvrtcGetProgramLogSize(prog[0], ls);
        const lb = Buffer.alloc(Number(ls[0]));
        this.nvrtc.nvrtcGetProgramLog(prog[0], lb);
        lastLog = lb.toString('utf8').replace(/\0+$/, '');
        if (r === 5 /* INVALID_OPTION: NVRTC does not know this sm_ */ && binary) continue;
        if (r !== 0) throw new CudaError('nvrtc', r, 'nvrtcCompileProgram', `compiling ${name}:\n${lastLog.slice(0, 2000)}`);
        const size = [0];
        this.check('nvrtc', binary ? this.nvrtc.nvrtcGetCUBINSize(prog[0], size) : this.nvrtc.nvrtcGetPTXSize(prog[0], size), 'nvrtcGetCode');
        const code = Buffer.alloc(Number(size[0]));
        this.check('nvrtc', binary ? this.nvrtc.nvrtcGetCUBIN(prog[0], code) : this.nvrtc.nvrtcGetPTX(prog[0], code), 'nvrtcGetCode');
        const mod = [null];
        this.check('driver', this.cu.cuModuleLoadData(mod, code), 'cuModuleLoadData', `loading ${name}`);
        return { module: mod[0], ms: performance.now() - t0, log: lastLog };
      } finally {
        this.nvrtc.nvrtcDestroyProgram(prog);
      }
    }
    throw new Error(`engine/cuda: NVRTC cannot target compute capability ${cc.join('.')}: ${lastLog}`);
  }

  func(module: Handle, name: string): Handle {
    const f = [null];
    this.check('driver', this.cu.cuModuleGetFunction(f, module, name), 'cuModuleGetFunction', `kernel ${name}`);
    return f[0];
  }
}

/** Per-library paths as `vit doctor`-style lines, without loading anything. */
export function describeSearch(): { lib: ToolkitLibrary; candidates: string[] }[] {
  const dirs = candidateDirs();
  const ld = ldconfigPaths();
  return (['cublasLt', 'nvrtc'] as const).map((lib) => ({ lib, candidates: libraryCandidates(lib, dirs, ld, existsSync) }));
}
