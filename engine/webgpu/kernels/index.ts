/** Compiled pipelines for one model shape, cached by the generated source's parameters. */
import type { GpuContext } from '../device.js';
import { attentionKernel, type AttentionKernel } from './attention.js';
import { embedKernel, im2colKernel } from './embed.js';
import { gemmConfigKey, gemmKernel, type GemmConfig, type GemmEpilogue, type GemmKernel } from './gemm.js';
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

/** A tile choice; `M` (the rows it was chosen for) lets a session's selected GEMM variant choose again. */
export interface GemmTile extends GemmConfig {
  M?: number;
}

/**
 * Tile for an M x N output. Measured on H200 at M = 12608 (NOTES.md): 64x128 is best for the wide
 * layers (N = 2304: 35.3 TFLOP/s vs 32.8 for 128x128; N = 3072: 32.6, tied with 128x64), 64x64 for
 * N = 768 (31.4-31.7 vs 25.2-25.4 for 128x128).
 */
export function chooseGemmTile(M: number, N: number): GemmTile {
  const wide = GEMM_TILES[2]!;
  if (N >= 1536 && workgroups(M, N, wide) >= GEMM_MIN_WORKGROUPS) return { ...wide, M };
  return { ...GEMM_TILES[3]!, M };
}

const workgroups = (M: number, N: number, c: GemmConfig) => Math.ceil(M / c.BM) * Math.ceil(N / c.BN);

/**
 * GEMM variants, one per session, selected by VIT_WEBGPU_GEMM=<name> (read when the session's kernel
 * cache is made; unset = 'v3'). `configs` lists every configuration `choose` can return, so the
 * device check verifies each. Outcomes per variant: NOTES.md.
 */
export interface GemmVariant {
  name: string;
  about: string;
  configs: GemmConfig[];
  choose(M: number, N: number): GemmConfig;
}

const base = (M: number, N: number): GemmConfig => {
  const { M: _m, ...tile } = chooseGemmTile(M, N);
  return tile;
};
const BASE_CONFIGS: GemmConfig[] = [GEMM_TILES[2]!, GEMM_TILES[3]!];
/** Base tiles with extra options (same grid, different code). */
const onBase = (extra: Partial<GemmConfig>) => ({
  configs: BASE_CONFIGS.map((c) => ({ ...c, ...extra })),
  choose: (M: number, N: number) => ({ ...base(M, N), ...extra }),
});
// 8x16 micro tile: 128x128 (128 threads) for wide layers, 64x128 (64 threads) for N = 768.
const T8X16_WIDE: GemmConfig = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 16, unroll: true };
const T8X16_NARROW: GemmConfig = { BM: 64, BN: 128, BK: 8, TM: 8, TN: 16, unroll: true };
// Small M: 4 K groups of 64 threads (256 per workgroup) on a 32x64 or 32x32 tile, BK 8 per group.
const SPLITK_WIDE: GemmConfig = { BM: 32, BN: 64, BK: 8, TM: 4, TN: 8, KS: 4, aLayout: 'mk' };
const SPLITK_NARROW: GemmConfig = { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4, KS: 4, aLayout: 'mk' };

export const GEMM_VARIANTS: ReadonlyArray<GemmVariant> = [
  { name: 'base', about: 'v2: kmajor A, 8x8 micro tile, BK 8, 64x128 (wide) / 64x64', configs: BASE_CONFIGS, choose: base },
  { name: 'unroll', about: 'base with the k loop unrolled in the WGSL source', ...onBase({ unroll: true }) },
  { name: 'mk', about: 'A row-major in workgroup memory (one vec4 store, no transpose), interleaved rows, unrolled', ...onBase({ aLayout: 'mk' }) },
  { name: 'mk16', about: 'mk with BK 16 (half the barriers; padded A rows where a warp would conflict)', ...onBase({ aLayout: 'mk', BK: 16 }) },
  {
    name: 't8x16',
    about: '8x16 micro tile (32 vec4 accumulators, 21 FMA per workgroup-memory read), 128x128 / 64x128, unrolled',
    configs: [T8X16_WIDE, T8X16_NARROW, ...BASE_CONFIGS],
    choose: (M, N) => {
      const c = N >= 1536 ? T8X16_WIDE : T8X16_NARROW;
      return workgroups(M, N, c) >= GEMM_MIN_WORKGROUPS ? c : base(M, N);
    },
  },
  {
    name: 'splitk',
    about: 'base, but below 264 workgroups (batch 1): 32x64 / 32x32 tiles with K split over 4 thread groups',
    configs: [SPLITK_WIDE, SPLITK_NARROW, ...BASE_CONFIGS],
    choose: (M, N) => {
      const b = base(M, N);
      if (workgroups(M, N, b) >= GEMM_MIN_WORKGROUPS) return b;
      return N >= 1536 ? SPLITK_WIDE : SPLITK_NARROW;
    },
  },
  {
    // The default since the v3 sweep on the H200: 'unroll' was fastest at batch 64 (63.0 vs 73.4 ms device,
    // GEMM mean 38.3 vs 32.3 TFLOP/s, logits bit-identical to base) and 'splitk' at batch 1 (3.8 vs 10.4 ms).
    name: 'v3',
    about: "unroll where the grid is full, splitk's 32-row tiles with K split over 4 groups where it is not (small M)",
    configs: [...BASE_CONFIGS.map((c) => ({ ...c, unroll: true })), SPLITK_WIDE, SPLITK_NARROW],
    choose: (M, N) => {
      const b = base(M, N);
      if (workgroups(M, N, b) >= GEMM_MIN_WORKGROUPS) return { ...b, unroll: true };
      return N >= 1536 ? SPLITK_WIDE : SPLITK_NARROW;
    },
  },
];

/** What a session uses when VIT_WEBGPU_GEMM is unset. */
export const DEFAULT_GEMM_VARIANT = 'v3';

/** The variant called `name` ('' or undefined = the default, v3); throws naming the known ones. */
export function gemmVariant(name: string | undefined): GemmVariant {
  const v = GEMM_VARIANTS.find((g) => g.name === (name || DEFAULT_GEMM_VARIANT));
  if (!v) {
    throw new Error(`engine/webgpu/kernels/index.ts: unknown GEMM variant VIT_WEBGPU_GEMM=${name} (known: ${GEMM_VARIANTS.map((g) => g.name).join(', ')})`);
  }
  return v;
}

export class KernelCache {
  private readonly cache = new Map<string, Promise<Compiled<unknown>>>();
  /** The GEMM variant this cache's sessions use (VIT_WEBGPU_GEMM when the cache is made). */
  readonly gemmVariant: GemmVariant;
  constructor(
    readonly ctx: GpuContext,
    gemmVariantName: string | undefined = process.env.VIT_WEBGPU_GEMM,
  ) {
    this.gemmVariant = gemmVariant(gemmVariantName);
  }

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

  /** A tile that carries its M (chooseGemmTile) is chosen again by the selected variant. */
  gemm(K: number, N: number, epilogue: GemmEpilogue, tile: GemmTile): Promise<Compiled<GemmKernel>> {
    const { M, ...given } = tile;
    let cfg = M === undefined ? given : this.gemmVariant.choose(M, N);
    // A tile needing more workgroup memory than this device grants (split-K wants up to 25 KiB; WebGPU's
    // guaranteed minimum is 16 KiB) falls back to the base tile, which always fits.
    const limit = this.ctx.device.limits.maxComputeWorkgroupStorageSize;
    if (M !== undefined && gemmKernel({ K, N, epilogue, ...cfg }).workgroupBytes > limit) cfg = { ...base(M, N), unroll: cfg.unroll };
    return this.get(`gemm K${K} N${N} ${epilogue} ${gemmConfigKey(cfg)}`, () => {
      const kernel = gemmKernel({ K, N, epilogue, ...cfg });
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
