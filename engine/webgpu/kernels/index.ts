/** Compiled pipelines for one model shape, cached by the generated source's parameters. */
import type { GpuContext } from '../device.js';
import { attentionKernel, type AttentionKernel } from './attention.js';
import { embedKernel, im2colKernel } from './embed.js';
import { gemmKernel, type GemmEpilogue, type GemmKernel } from './gemm.js';
import { layerNormKernel } from './layernorm.js';

export interface Compiled<K> {
  kernel: K;
  pipeline: GPUComputePipeline;
}

/** Block tiles (BK = 8 throughout: BK = 16 measured 10-20 % slower on H200). */
export const GEMM_TILES: ReadonlyArray<{ BM: number; BN: number; BK: number }> = [
  { BM: 128, BN: 128, BK: 8 },
  { BM: 128, BN: 64, BK: 8 },
  { BM: 64, BN: 128, BK: 8 },
  { BM: 64, BN: 64, BK: 8 },
];
/** Workgroups wanted at least (about 2 per SM on a 132-SM H100/H200) before a bigger tile is used. */
export const GEMM_MIN_WORKGROUPS = 264;

/**
 * Tile for an M x N output. Measured on H200 at M = 12608 (NOTES.md): 64x128 is best for the wide
 * layers (N = 2304: 35.3 TFLOP/s vs 32.8 for 128x128; N = 3072: 32.6, tied with 128x64), 64x64 for
 * N = 768 (31.4-31.7 vs 25.2-25.4 for 128x128).
 */
export function chooseGemmTile(M: number, N: number): { BM: number; BN: number; BK: number } {
  const wide = GEMM_TILES[2]!;
  if (N >= 1536 && Math.ceil(M / wide.BM) * Math.ceil(N / wide.BN) >= GEMM_MIN_WORKGROUPS) return wide;
  return GEMM_TILES[3]!;
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

  gemm(K: number, N: number, epilogue: GemmEpilogue, tile: { BM: number; BN: number; BK: number }): Promise<Compiled<GemmKernel>> {
    return this.get(`gemm K${K} N${N} ${epilogue} ${tile.BM}x${tile.BN}x${tile.BK}`, () => {
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

  embed(N: number, D: number): Promise<Compiled<null>> {
    return this.get(`embed N${N} D${D}`, () => ({ kernel: null, code: embedKernel(N, D) }));
  }
}
