/** CUDA driver, NVRTC and cuBLAS status codes as names, and the error type every CUDA failure becomes. */

const CU_RESULT: Record<number, string> = {
  1: 'CUDA_ERROR_INVALID_VALUE',
  2: 'CUDA_ERROR_OUT_OF_MEMORY',
  3: 'CUDA_ERROR_NOT_INITIALIZED',
  4: 'CUDA_ERROR_DEINITIALIZED',
  34: 'CUDA_ERROR_STUB_LIBRARY',
  46: 'CUDA_ERROR_DEVICE_UNAVAILABLE',
  100: 'CUDA_ERROR_NO_DEVICE',
  101: 'CUDA_ERROR_INVALID_DEVICE',
  200: 'CUDA_ERROR_INVALID_IMAGE',
  201: 'CUDA_ERROR_INVALID_CONTEXT',
  209: 'CUDA_ERROR_NO_BINARY_FOR_GPU',
  218: 'CUDA_ERROR_INVALID_PTX',
  222: 'CUDA_ERROR_UNSUPPORTED_PTX_VERSION',
  300: 'CUDA_ERROR_INVALID_SOURCE',
  400: 'CUDA_ERROR_INVALID_HANDLE',
  500: 'CUDA_ERROR_NOT_FOUND',
  600: 'CUDA_ERROR_NOT_READY',
  700: 'CUDA_ERROR_ILLEGAL_ADDRESS',
  701: 'CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES',
  702: 'CUDA_ERROR_LAUNCH_TIMEOUT',
  715: 'CUDA_ERROR_ILLEGAL_INSTRUCTION',
  716: 'CUDA_ERROR_MISALIGNED_ADDRESS',
  719: 'CUDA_ERROR_LAUNCH_FAILED',
  802: 'CUDA_ERROR_SYSTEM_NOT_READY',
  803: 'CUDA_ERROR_SYSTEM_DRIVER_MISMATCH',
  804: 'CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE',
  900: 'CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED',
  901: 'CUDA_ERROR_STREAM_CAPTURE_INVALIDATED',
  999: 'CUDA_ERROR_UNKNOWN',
};

const CUBLAS_STATUS: Record<number, string> = {
  1: 'CUBLAS_STATUS_NOT_INITIALIZED',
  3: 'CUBLAS_STATUS_ALLOC_FAILED',
  7: 'CUBLAS_STATUS_INVALID_VALUE',
  8: 'CUBLAS_STATUS_ARCH_MISMATCH',
  11: 'CUBLAS_STATUS_MAPPING_ERROR',
  13: 'CUBLAS_STATUS_EXECUTION_FAILED',
  14: 'CUBLAS_STATUS_INTERNAL_ERROR',
  15: 'CUBLAS_STATUS_NOT_SUPPORTED',
  16: 'CUBLAS_STATUS_LICENSE_ERROR',
};

const NVRTC_RESULT: Record<number, string> = {
  1: 'NVRTC_ERROR_OUT_OF_MEMORY',
  2: 'NVRTC_ERROR_PROGRAM_CREATION_FAILURE',
  3: 'NVRTC_ERROR_INVALID_INPUT',
  4: 'NVRTC_ERROR_INVALID_PROGRAM',
  5: 'NVRTC_ERROR_INVALID_OPTION',
  6: 'NVRTC_ERROR_COMPILATION',
  7: 'NVRTC_ERROR_BUILTIN_OPERATION_FAILURE',
  11: 'NVRTC_ERROR_INTERNAL_ERROR',
};

export type CudaLibrary = 'driver' | 'cublasLt' | 'nvrtc';

/** The name of a status code of one of the libraries ("CUDA_ERROR_OUT_OF_MEMORY"), or "<library> status N". */
export function statusName(lib: CudaLibrary, code: number): string {
  if (code === 0) return lib === 'driver' ? 'CUDA_SUCCESS' : lib === 'nvrtc' ? 'NVRTC_SUCCESS' : 'CUBLAS_STATUS_SUCCESS';
  const table = lib === 'driver' ? CU_RESULT : lib === 'nvrtc' ? NVRTC_RESULT : CUBLAS_STATUS;
  return table[code] ?? `${lib} status ${code}`;
}

export const CUDA_ERROR_OUT_OF_MEMORY = 2;
/** Kernel faults after which every call in the context fails (CUDA's "sticky" errors). */
const STICKY = new Set([700, 701, 702, 714, 715, 716, 717, 718, 719]);
export const CUDA_ERROR_NOT_READY = 600;
export const CUBLAS_STATUS_ALLOC_FAILED = 3;

/** A failed CUDA call: which call, its status by name, and what was being done. */
export class CudaError extends Error {
  constructor(
    readonly lib: CudaLibrary,
    readonly code: number,
    readonly call: string,
    readonly what?: string,
  ) {
    super(`${what ? `${what}: ` : ''}${call} failed with ${statusName(lib, code)}${hintFor(lib, code)}`);
    this.name = 'CudaError';
  }

  /** An error that leaves the context unusable (a kernel fault): the context must be reset. */
  get sticky(): boolean {
    return this.lib === 'driver' && STICKY.has(this.code);
  }

  /** Out of device memory, from the driver or from cuBLAS. */
  get outOfMemory(): boolean {
    return (this.lib === 'driver' && this.code === CUDA_ERROR_OUT_OF_MEMORY) || (this.lib === 'cublasLt' && this.code === CUBLAS_STATUS_ALLOC_FAILED);
  }
}

function hintFor(lib: CudaLibrary, code: number): string {
  if (lib !== 'driver') return '';
  if (code === 100) return ' (no CUDA device is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES)';
  if (code === 34 || code === 803) return ' (the libcuda found does not match the kernel driver: reinstall the NVIDIA driver)';
  if (code === 222) return ' (the driver is older than the NVRTC library: update the NVIDIA driver or use an older CUDA toolkit)';
  return '';
}
