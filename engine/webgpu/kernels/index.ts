/** Compiled pipelines for one model shape, cached by the generated source's parameters. */
import type { GpuContext } from '../device.js';
import { attentionKernel, type AttentionKernel } from './attention.js';
import { attentionSgmatKernel, type AttentionSgmatKernel, type AttentionSgmatShape } from './attention-sgmat.js';
import { embedKernel, im2colKernel, poolKernel } from './embed.js';
import { gemmConfigKey, gemmKernel, type GemmConfig, type GemmEpilogue, type GemmKernel, type StorageType } from './gemm.js';
import { sgmatKernel, type SgmatConfig, type SgmatKernel } from './gemm-sgmat.js';
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

/** Subgroup-matrix GEMM tiles by name (the names `--f16-tile` and the device check use). */
export const SGMAT_TILES: Readonly<Record<string, SgmatConfig>> = {
  '128x128x32': { BM: 128, BN: 128, BK: 32, WM: 2, WN: 4 },
  '128x128x16': { BM: 128, BN: 128, BK: 16, WM: 2, WN: 4 },
  '128x64x32': { BM: 128, BN: 64, BK: 32, WM: 4, WN: 2 },
  '64x128x32': { BM: 64, BN: 128, BK: 32, WM: 2, WN: 4 },
  '64x64x32': { BM: 64, BN: 64, BK: 32, WM: 2, WN: 2 },
  '64x64x16': { BM: 64, BN: 64, BK: 16, WM: 2, WN: 2 },
  '32x64x32': { BM: 32, BN: 64, BK: 32, WM: 1, WN: 2 },
  '128x256x32 s1': { BM: 128, BN: 256, BK: 32, WM: 2, WN: 4, stages: 1 },
};

/** Subgroup-matrix workgroups wanted at least before a larger tile is used (one per SM on a 132-SM H100). */
export const SGMAT_MIN_WORKGROUPS = 132;

/** What a device allows a subgroup-matrix pipeline: workgroup memory, invocations per workgroup, and a
 * workgroup size that is a multiple of its largest subgroup size (Dawn's rule for shaders using subgroup matrices). */
export interface SgmatLimits {
  maxWorkgroupBytes: number;
  /** maxComputeInvocationsPerWorkgroup (no limit when absent). */
  maxThreads?: number;
  maxSubgroupSize: number;
  /** Subgroup size the kernels are generated for. */
  SG: number;
}

export const UNLIMITED: SgmatLimits = { maxWorkgroupBytes: Infinity, maxSubgroupSize: 32, SG: 32 };

export function sgmatLimits(ctx: GpuContext, SG: number): SgmatLimits {
  const l = ctx.device.limits;
  return { maxWorkgroupBytes: l.maxComputeWorkgroupStorageSize, maxThreads: l.maxComputeInvocationsPerWorkgroup, maxSubgroupSize: ctx.maxSubgroupSize ?? SG, SG };
}

const fits = (k: { workgroupBytes: number; threads: number }, lim: SgmatLimits) =>
  k.workgroupBytes <= lim.maxWorkgroupBytes && k.threads <= (lim.maxThreads ?? Infinity) && k.threads % lim.maxSubgroupSize === 0;

export function sgmatUsable(name: string, lim: SgmatLimits): boolean {
  return fits(sgmatKernel({ ...SGMAT_TILES[name]!, K: 64, N: 64, epilogue: 'bias', SG: lim.SG }), lim);
}

/** Rows from which the 128x256 single-buffered tile pays (measured at 50432 rows, not at 12608). */
export const SGMAT_WIDE_ROWS = 32768;

/**
 * The subgroup-matrix tile for an M x N output, as measured on an H100 (scripts/webgpu-f16-check.sh, NOTES.md
 * "f16"): 128x256x32 single-buffered from SGMAT_WIDE_ROWS rows (ViT-B 224 batch 256: 66.5 ms against 70.6 with
 * 128x128x32, which stays ahead at batch 64: 19.4 ms against 19.8), 128x128x32 wherever its grid has
 * SGMAT_MIN_WORKGROUPS workgroups (every ViT-B GEMM from batch 64 on: 2594 img/s at batch 64 against 2193-2299
 * for the 64-wide tiles), else 64x128x32 for wide outputs and 64x64x32 for the rest (batch 1: 12.7 and 4.6
 * TFLOP/s against 11.7 and 3.8 for the next best); only tiles the device can run (else the smallest it can).
 */
/** Every tile chooseSgmatTile may return, largest first (a session self-checks each one it may use). */
export const SGMAT_CHOSEN = ['128x256x32 s1', '128x128x32', '64x128x32', '64x64x32', '32x64x32', '64x64x16'] as const;

export function chooseSgmatTile(M: number, N: number, lim: SgmatLimits = UNLIMITED): string {
  const big = SGMAT_TILES['128x128x32']!;
  const order = [
    ...(M >= SGMAT_WIDE_ROWS ? ['128x256x32 s1'] : []),
    ...(Math.ceil(M / big.BM) * Math.ceil(N / big.BN) >= SGMAT_MIN_WORKGROUPS ? ['128x128x32'] : []),
    ...(N >= 1536 ? ['64x128x32', '64x64x32'] : ['64x64x32']),
    '32x64x32',
    '64x64x16',
  ];
  const name = order.find((n) => sgmatUsable(n, lim));
  if (!name) throw new Error('engine/webgpu: no subgroup-matrix tile fits this device');
  return name;
}

/** Subgroup-matrix attention shapes (W subgroups, CH keys staged, form) in order of preference (NOTES.md, "f16"). */
export const ATTENTION_SGMAT_CONFIGS: readonly Omit<AttentionSgmatShape, 'SG'>[] = [
  { W: 8, CH: 32, form: 'online' },
  { W: 8, CH: 16, form: 'online' },
  { W: 8, CH: 32, form: 'two-pass' },
  { W: 4, CH: 32, form: 'two-pass' },
];

/** The ATTENTION_SGMAT_CONFIGS entries (or `forced`) this device can run, in order. */
export function attentionSgmatCandidates(N: number, D: number, heads: number, lim: SgmatLimits, forced?: Omit<AttentionSgmatShape, 'SG'>): AttentionSgmatShape[] {
  return (forced ? [forced] : ATTENTION_SGMAT_CONFIGS)
    .map((c) => ({ ...c, SG: lim.SG }))
    .filter((c) => fits(attentionSgmatKernel(N, D, heads, c), lim));
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

  /** SIMT GEMM; `input` / `output` f16 for the SIMT f16 path. */
  gemm(K: number, N: number, epilogue: GemmEpilogue, tile: GemmConfig, input: StorageType = 'f32', output: StorageType = 'f32'): Promise<Compiled<GemmKernel>> {
    const types = input === 'f32' && output === 'f32' ? '' : ` ${input}->${output}`;
    return this.get(`gemm K${K} N${N} ${epilogue} ${gemmConfigKey(tile)}${types}`, () => {
      const kernel = gemmKernel({ K, N, epilogue, ...tile, input, output });
      return { kernel, code: kernel.code };
    });
  }

  /** Subgroup-matrix f16 GEMM with tile `name` (SGMAT_TILES), subgroups of SG invocations. */
  gemmSgmat(K: number, N: number, epilogue: GemmEpilogue, name: string, output: StorageType, SG: number): Promise<Compiled<SgmatKernel>> {
    const tile = SGMAT_TILES[name];
    if (!tile) throw new Error(`engine/webgpu: unknown subgroup-matrix tile ${name} (${Object.keys(SGMAT_TILES).join(', ')})`);
    return this.get(`sgmat K${K} N${N} ${epilogue} ${name} ->${output} sg${SG}`, () => {
      const kernel = sgmatKernel({ K, N, epilogue, ...tile, output, SG });
      return { kernel, code: kernel.code };
    });
  }

  layerNorm(D: number, eps: number, output: StorageType = 'f32'): Promise<Compiled<{ threads: number }>> {
    return this.get(`layernorm D${D} eps${eps}${output === 'f16' ? ' ->f16' : ''}`, () => {
      const kernel = layerNormKernel(D, eps, output);
      return { kernel, code: kernel.code };
    });
  }

  attention(N: number, D: number, heads: number, io: StorageType = 'f32'): Promise<Compiled<AttentionKernel>> {
    return this.get(`attention N${N} D${D} H${heads}${io === 'f16' ? ' f16' : ''}`, () => {
      const kernel = attentionKernel(N, D, heads, { io });
      return { kernel, code: kernel.code };
    });
  }

  /** Fused attention on subgroup matrices (f16 in and out); `o` fixes W, CH and SG. */
  attentionSgmat(N: number, D: number, heads: number, o: AttentionSgmatShape): Promise<Compiled<AttentionSgmatKernel>> {
    return this.get(`attention-sgmat ${o.form} N${N} D${D} H${heads} w${o.W} ch${o.CH} sg${o.SG}`, () => {
      const kernel = attentionSgmatKernel(N, D, heads, o);
      return { kernel, code: kernel.code };
    });
  }

  im2col(C: number, H: number, W: number, P: number, output: StorageType = 'f32'): Promise<Compiled<null>> {
    return this.get(`im2col C${C} ${H}x${W} P${P}${output === 'f16' ? ' ->f16' : ''}`, () => ({ kernel: null, code: im2colKernel(C, H, W, P, output) }));
  }

  /** `prefix` tokens before the patches; `input` f16: the patch-GEMM output is f16. */
  embed(N: number, D: number, prefix = 1, input: StorageType = 'f32'): Promise<Compiled<null>> {
    return this.get(`embed N${N} D${D} prefix${prefix}${input === 'f16' ? ' f16->' : ''}`, () => ({ kernel: null, code: embedKernel(N, D, prefix, input) }));
  }

  /** Mean of rows first .. first+count-1 of each image; `input` / `output` f16 in fp16 plans. */
  pool(N: number, D: number, first: number, count: number, input: StorageType = 'f32', output: StorageType = 'f32'): Promise<Compiled<null>> {
    const types = input === 'f32' && output === 'f32' ? '' : ` ${input}->${output}`;
    return this.get(`pool N${N} D${D} ${first}+${count}${types}`, () => ({ kernel: null, code: poolKernel(N, D, first, count, input, output) }));
  }
}
