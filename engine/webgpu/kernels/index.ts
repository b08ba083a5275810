/** Compiled pipelines for one model shape, cached by the generated source's parameters. */
import type { GpuContext } from '../device.js';
import { attentionKernel, type AttentionKernel } from './attention.js';
import { embedKernel, im2colKernel, poolKernel } from './embed.js';
import { gemmConfigKey, gemmKernel, type GemmConfig, type GemmEpilogue, type GemmKernel } from './gemm.js';
import { layerNormKernel } from './layernorm.js';

export interface Compiled<K> {
  kernel: K;
  pipeline: GPUComputePipeline;
}

/** Workgroups wanted at least (about 2 per SM on a 132-SM H100/H200) before the full-grid tiles are used. */
export const GEMM_MIN_WORKGROUPS = 264;

// Full grid: 64x128 for wide layers (N >= 1536), 64x64 otherwise, k loop unrolled.
const WIDE: GemmConfig = { BM: 64, BN: 128, BK: 8 };
const NARROW: GemmConfig = { BM: 64, BN: 64, BK: 8 };
// Small M (batch 1): 32-row tiles with K split over 4 groups of 64 threads.
const SPLITK_WIDE: GemmConfig = { BM: 32, BN: 64, BK: 8, TM: 4, TN: 8, KS: 4, aLayout: 'mk' };
const SPLITK_NARROW: GemmConfig = { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4, KS: 4, aLayout: 'mk' };

/** Every tile chooseGemmTile can return, for the kernel tests. */
export const GEMM_TILES: readonly GemmConfig[] = [
  { ...WIDE, unroll: true },
  { ...NARROW, unroll: true },
  SPLITK_WIDE,
  SPLITK_NARROW,
  WIDE,
  NARROW,
];

const workgroups = (M: number, N: number, c: GemmConfig) => Math.ceil(M / c.BM) * Math.ceil(N / c.BN);

/**
 * The tile for an M x N output with inner dimension K (measurements: engine/webgpu/NOTES.md). A split-K
 * tile that needs more workgroup memory than `maxWorkgroupBytes` (it wants up to 25 KiB; WebGPU guarantees
 * 16 KiB) falls back to the plain tile, which always fits.
 */
export function chooseGemmTile(M: number, K: number, N: number, maxWorkgroupBytes = Infinity): GemmConfig {
  const base = N >= 1536 && workgroups(M, N, WIDE) >= GEMM_MIN_WORKGROUPS ? WIDE : NARROW;
  if (workgroups(M, N, base) >= GEMM_MIN_WORKGROUPS) return { ...base, unroll: true };
  const split = N >= 1536 ? SPLITK_WIDE : SPLITK_NARROW;
  return gemmKernel({ K, N, epilogue: 'bias', ...split }).workgroupBytes <= maxWorkgroupBytes ? split : base;
}

export class KernelCache {
  private readonly cache = new Map<string, Promise<Compiled<unknown>>>();
  constructor(readonly ctx: GpuContext) {}

  private get<K>(key: string, make: () => { kernel: K; code: string }): Promise<Compiled<K>> {
    let p = this.cache.get(key) as Promise<Compiled<K>> | undefined;
    if (!p) {
      const { kernel, code } = make();
      p = this.ctx.pipeline(code, key).then((pipeline) => ({ kernel, pipeline }));
      this.cache.set(key, p as Promise<Compiled<unknown>>);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  gemm(K: number, N: number, epilogue: GemmEpilogue, tile: GemmConfig): Promise<Compiled<GemmKernel>> {
    return this.get(`gemm K${K} N${N} ${epilogue} ${gemmConfigKey(tile)}`, () => {
      const kernel = gemmKernel({ K, N, epilogue, ...tile });
      return { kernel, code: kernel.code };
    });
  }

  layerNorm(D: number, eps: number): Promise<Compiled<{ threads: number }>> {
    return this.get(`layernorm D${D} eps${eps}`, () => {
      const kernel = layerNormKernel(D, eps);
      return { kernel, code: kernel.code };
    });
  }

  attention(N: number, D: number, heads: number): Promise<Compiled<AttentionKernel>> {
    return this.get(`attention N${N} D${D} H${heads}`, () => {
      const kernel = attentionKernel(N, D, heads);
      return { kernel, code: kernel.code };
    });
  }

  im2col(C: number, H: number, W: number, P: number): Promise<Compiled<null>> {
    return this.get(`im2col C${C} ${H}x${W} P${P}`, () => ({ kernel: null, code: im2colKernel(C, H, W, P) }));
  }

  embed(N: number, D: number, prefix = 1): Promise<Compiled<null>> {
    return this.get(`embed N${N} D${D} prefix${prefix}`, () => ({ kernel: null, code: embedKernel(N, D, prefix) }));
  }

  pool(N: number, D: number, first: number, count: number): Promise<Compiled<null>> {
    return this.get(`pool N${N} D${D} ${first}+${count}`, () => ({ kernel: null, code: poolKernel(N, D, first, count) }));
  }
}
