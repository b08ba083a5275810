/**
 * The cuda backend without a GPU: status names, library discovery, the kernel source (compiled by nvcc when
 * this machine has it), and the error a user gets where CUDA is missing. On a machine with CUDA,
 * VIT_GPU_TESTS=1 also runs every committed fixture through the backend (scripts/cuda-check.sh does the same
 * on the device machine with the peers).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CudaError, statusName } from '../engine/cuda/errors.js';
import { candidateDirs, libraryCandidates, SONAMES } from '../engine/cuda/libraries.js';
import { chooseAttention, kernelSource, KERNEL_NAMES, type ActType, type AttentionKind } from '../engine/cuda/kernels.js';
import { createSession } from '../engine/session.js';
import { randomModel } from '../loaders/random.js';
import { syntheticModel } from '../dev/synthetic.js';
import { compareArrays } from '../engine/compare.js';
import { forward64 } from '../model/reference.js';
import { randomArray } from '../util/random.js';
import { waitFor } from '../engine/cuda/forward.js';

function hasNvcc(): boolean {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function cudaUsable(): boolean {
  try {
    execFileSync('nvidia-smi', ['-L'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('cuda: status codes and errors', () => {
  it('names driver, cuBLAS and NVRTC codes, with a fallback for unknown ones', () => {
    expect(statusName('driver', 2)).toBe('CUDA_ERROR_OUT_OF_MEMORY');
    expect(statusName('driver', 0)).toBe('CUDA_SUCCESS');
    expect(statusName('cublasLt', 15)).toBe('CUBLAS_STATUS_NOT_SUPPORTED');
    expect(statusName('nvrtc', 6)).toBe('NVRTC_ERROR_COMPILATION');
    expect(statusName('driver', 12345)).toBe('driver status 12345');
  });

  it('says what was being done, which call failed and, for known causes, what to do', () => {
    const e = new CudaError('driver', 100, 'cuDeviceGet', 'opening device 0');
    expect(e.message).toBe('opening device 0: cuDeviceGet failed with CUDA_ERROR_NO_DEVICE (no CUDA device is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES)');
    expect(new CudaError('driver', 2, 'cuMemAlloc').outOfMemory).toBe(true);
    expect(new CudaError('cublasLt', 3, 'cublasLtMatmul').outOfMemory).toBe(true);
    expect(new CudaError('driver', 700, 'cuEventQuery').outOfMemory).toBe(false);
  });
});

describe('cuda: library discovery', () => {
  it('VIT_CUDA_LIBS alone decides the folders, in the order given', () => {
    expect(candidateDirs({ VIT_CUDA_LIBS: '/a/lib:/b/lib' })).toEqual(['/a/lib', '/b/lib']);
  });

  it('looks in CUDA_PATH, the toolkit folders and pip wheel layouts', () => {
    const dirs = candidateDirs({ CUDA_PATH: '/opt/my-cuda' });
    expect(dirs.slice(0, 2)).toEqual(['/opt/my-cuda/lib64', '/opt/my-cuda/lib']);
    expect(dirs).toContain('/usr/local/cuda/lib64');
  });

  it('prefers an existing file in the folders (newest CUDA major first), then ldconfig, then the bare soname', () => {
    const root = mkdtempSync(join(tmpdir(), 'vit-cudalibs-'));
    const a = join(root, 'a'), b = join(root, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(b, 'libcublasLt.so.12'), '');
    writeFileSync(join(a, 'libcublasLt.so.13'), '');
    const ld = new Map([['libcublasLt.so.12', '/usr/lib/libcublasLt.so.12']]);
    expect(libraryCandidates('cublasLt', [a, b], ld)).toEqual([
      join(a, 'libcublasLt.so.13'),
      join(b, 'libcublasLt.so.12'),
      '/usr/lib/libcublasLt.so.12',
      ...SONAMES.cublasLt,
    ]);
    expect(libraryCandidates('nvrtc', [a, b], new Map())).toEqual(SONAMES.nvrtc);
  });
});

describe('cuda: kernel source', () => {
  it('exports every kernel the forward pass launches, for each activation type', () => {
    for (const act of ['f32', 'bf16', 'f16'] as const) {
      const src = kernelSource({ act, headDim: 64 });
      for (const k of KERNEL_NAMES) expect(src, `${act}: ${k}`).toMatch(new RegExp(`extern "C" __global__ void (__launch_bounds__\\(\\w+(, \\w+)?\\) )?${k}\\(`));
    }
  });

  it('refuses head sizes the tensor-core attention cannot take', () => {
    expect(() => kernelSource({ act: 'bf16', headDim: 20 })).toThrow(/head dim 20/);
    expect(() => kernelSource({ act: 'f32', headDim: 20 })).not.toThrow();
    expect(() => kernelSource({ act: 'f32', headDim: 20, attention: 'tf32x3' })).toThrow(/multiple of 8/);
    expect(() => kernelSource({ act: 'bf16', headDim: 64, attention: 'simt' })).toThrow(/does not take bf16/);
  });

  it('picks TF32 tensor-core attention for float32 where the GPU and head size allow, SIMT elsewhere', () => {
    expect(chooseAttention('bf16', 64, 9)).toBe('mma16');
    expect(chooseAttention('f32', 64, 9)).toBe('tf32x3');
    expect(chooseAttention('f32', 64, 9, true)).toBe('tf32x3-qk');
    expect(chooseAttention('f32', 64, 7)).toBe('simt');
    expect(chooseAttention('f32', 20, 9)).toBe('simt');
    expect(chooseAttention('f32', 128, 9)).toBe('simt');
    expect(kernelSource({ act: 'f32', headDim: 64 })).toMatch(/#define SPLIT_S 1\n#define SPLIT_PV 1/);
    expect(kernelSource({ act: 'f32', headDim: 64, attention: 'tf32x3-qk' })).toMatch(/#define SPLIT_S 1\n#define SPLIT_PV 0/);
    expect(kernelSource({ act: 'f32', headDim: 64, attention: 'tf32' })).toMatch(/#define SPLIT_S 0\n#define SPLIT_PV 0/);
    expect(kernelSource({ act: 'f32', headDim: 64, tf32: true })).toMatch(/cvt\.rna\.tf32\.f32 %0, %1;" : "=r"\(r\) : "f"\(f\)\); return __uint_as_float/);
    expect(() => kernelSource({ act: 'bf16', headDim: 64, tf32: true })).toThrow(/TF32 rounding/);
    expect(kernelSource({ act: 'f32', headDim: 20 })).not.toMatch(/mma\.sync/);
  });

  it.skipIf(!hasNvcc())('compiles with nvcc for sm_90 (every attention kind; head dims 24, 64, and 88 for TF32) with no spills', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vit-cuda-src-'));
    const cases: [ActType, AttentionKind | undefined, boolean][] = [
      ['f32', 'simt', false], ['f32', 'tf32x3', false], ['f32', 'tf32x3-qk', true], ['f32', 'tf32', true], ['bf16', undefined, false], ['f16', undefined, false],
    ];
    for (const [act, attention, tf32] of cases) {
      // 88: the largest head the TF32 kernels take (the SIMT one spills there; it serves only older GPUs).
      for (const headDim of attention?.startsWith('tf32') ? [24, 64, 88] : [24, 64]) {
        const file = join(dir, `k-${act}-${attention}-${tf32}-${headDim}.cu`);
        writeFileSync(file, kernelSource({ act, headDim, attention, tf32 }));
        const r = spawnSync('nvcc', ['-arch=sm_90', '-cubin', '-Xptxas', '-v', file, '-o', `${file}.cubin`], { encoding: 'utf8' });
        expect(r.status, `${act} ${attention} hd ${headDim}: ${r.stderr}`).toBe(0);
        expect(r.stderr).toMatch(/Compiling entry function 'attention'/);
        expect(r.stderr, `${act} ${attention} hd ${headDim} spills`).not.toMatch(/[1-9]\d* bytes spill stores/);
      }
    }
  }, 180_000);
});

describe('cuda: waiting for a batch', () => {
  it('polls until the event is done, however long it takes against the expected time, and passes its errors on', async () => {
    for (const [expected, polls] of [[undefined, 3], [0.5, 40], [4, 1]] as const) {
      let n = 0;
      await waitFor(() => ++n > polls, expected);
      expect(n).toBe(polls + 1);
    }
    const t0 = performance.now();
    await waitFor(() => performance.now() - t0 > 8, 5); // past the polling window: millisecond polls take over
    expect(performance.now() - t0).toBeGreaterThan(8);
    await expect(waitFor(() => { throw new CudaError('driver', 700, 'cuEventQuery'); }, 1)).rejects.toThrow(CudaError);
  });
});

describe('cuda: where CUDA is missing', () => {
  it.skipIf(cudaUsable())('createSession fails once with a clear reason and what to install', async () => {
    const model = randomModel('random:deit_tiny_patch16_224');
    await expect(createSession(model, 'cuda')).rejects.toThrow(/libcuda\.so\.1|koffi|Linux only/);
  });
});

describe('--gpus', () => {
  it('takes all, a count, or ordinals, checked against the devices there are', async () => {
    const { parseGpus } = await import('../engine/gpus.js');
    expect(parseGpus('all', 4, 'cuda')).toEqual([0, 1, 2, 3]);
    expect(parseGpus('2', 4, 'cuda')).toEqual([0, 1]);
    expect(parseGpus('0,2,3', 4, 'cuda')).toEqual([0, 2, 3]);
    expect(() => parseGpus('0,5', 4, 'cuda')).toThrow(/sees 4 device\(s\), no ordinal 5/);
    expect(() => parseGpus('1,1', 4, 'cuda')).toThrow(/listed twice/);
    expect(() => parseGpus('2', 1, 'webgpu')).toThrow(/one adapter per process/);
    expect(() => parseGpus('gpu0', 4, 'cuda')).toThrow(/expected all, a count/);
  });
});

/** Feature outputs and distilled DeiT through the cuda backend in fp32, where a CUDA device is usable. */
describe.skipIf(!cudaUsable())('cuda: feature outputs and distilled DeiT vs the float64 forward (fp32, atol = rtol = 1e-4)', () => {
  for (const distilled of [false, true]) {
    for (const classes of [5, 0]) {
      for (const output of ['logits', 'cls', 'mean'] as const) {
        it(`${distilled ? 'distilled' : 'plain'}, ${classes} classes: ${output}`, async () => {
          const model = syntheticModel({ D: 32, layers: 1, heads: 2, mlp: 64, classes, P: 8, size: [16, 24], distilled }, 4);
          const px = randomArray(3 * 3 * 16 * 24, 79);
          const s = await createSession(model, 'cuda', { precision: 'fp32', output });
          try {
            expect(compareArrays(await s.run(px, 3), forward64(model, px, 3, output)).failing).toBe(0);
          } finally {
            await s.dispose();
          }
        });
      }
    }
  }
});
