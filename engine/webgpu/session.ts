/**
 * InferenceSession on our own WGSL kernels (backend 'webgpu'). Weights are uploaded once; one Plan per
 * batch size is built on first use and cached. Batches larger than one binding can hold (or than
 * MAX_PLAN_BATCH) run as consecutive chunks. A plan serves one run at a time (it owns its buffers);
 * up to PLANS_IN_FLIGHT plans per batch size let concurrent runs overlap one's upload and read-back with
 * another's compute.
 *
 * precision 'fp16' picks the kernel path at creation: f16 GEMMs on subgroup matrices where the device has
 * them (each tile self-checked first), SIMT f16 where it has only shader-f16, fp32 where it has neither.
 * describe() says which one runs.
 */
import { modelShapes, outputWidth, pixelsPerImage, type ModelOutput } from '../../model/shapes.js';
import type { ViTModel } from '../../model/weights.js';
import type { InferenceSession, SessionOptions } from '../types.js';
import { PlanPool, RunsInFlight } from '../plan-pool.js';
import { createGpuContext, type GpuContext } from './device.js';
import { attentionSgmatFits, type AttentionSgmatForm } from './kernels/attention-sgmat.js';
import { attentionSgmatCandidates, KernelCache, SGMAT_CHOSEN, SGMAT_TILES, sgmatLimits, sgmatUsable, type SgmatLimits } from './kernels/index.js';
import { bytesPerImage, FP32_PATH, Plan, type PlanPath } from './plan.js';
import { checkSgmatAttention, checkSgmatTile } from './selfcheck.js';
import { uploadModel, type ModelBuffers } from './weights.js';

/** Largest batch one plan holds; bigger requests are split (activation memory grows linearly). */
export const MAX_PLAN_BATCH = 256;

/** Shapes the kernels support; throws naming what does not fit. */
export function checkSupported(model: ViTModel): void {
  const { D, mlp, Kp, heads, headDim } = modelShapes(model.config);
  const why: string[] = [];
  if (D % 4) why.push(`hiddenSize ${D} is not a multiple of 4`);
  if (mlp % 4) why.push(`mlpDim ${mlp} is not a multiple of 4`);
  if (Kp % 4) why.push(`channels*patch^2 is not a multiple of 4`);
  if (!Number.isInteger(headDim) || headDim % 4) why.push(`head dim ${D}/${heads} is not a multiple of 4`);
  if (why.length) throw new Error(`engine/webgpu: ${model.source} is not supported: ${why.join('; ')}`);
}

/** Plans per batch size: up to PLANS_IN_FLIGHT, so concurrent runs overlap upload/readback with compute. */
export const PLANS_IN_FLIGHT = 2;

class WebGPUSession implements InferenceSession {
  readonly backend = 'webgpu' as const;
  private readonly pools = new PlanPool<Plan>(PLANS_IN_FLIGHT);
  private readonly all: Plan[] = [];
  private readonly inFlight = new RunsInFlight();
  private deviceMs: number | undefined;
  /** Host-side split of the last run's last chunk (see Plan.lastHostMs). */
  lastHostMs: Plan['lastHostMs'];
  private disposed = false;
  readonly maxPlanBatch: number;

  constructor(
    readonly model: ViTModel,
    readonly output: ModelOutput,
    readonly ctx: GpuContext,
    private readonly kernels: KernelCache,
    private readonly weights: ModelBuffers,
    readonly path: PlanPath,
    private readonly summary: string,
  ) {
    const limit = Math.min(ctx.device.limits.maxStorageBufferBindingSize, ctx.device.limits.maxBufferSize);
    this.maxPlanBatch = Math.max(1, Math.min(MAX_PLAN_BATCH, Math.floor(limit / bytesPerImage(model))));
  }

  /** A free plan for `batch`: a cached one, a new one while fewer than PLANS_IN_FLIGHT exist, else wait. */
  acquire(batch: number): Promise<Plan> {
    return this.pools.acquire(batch, async () => {
      const plan = await Plan.build(this.ctx, this.kernels, this.model, this.weights, batch, this.output, this.path);
      this.all.push(plan);
      return plan;
    });
  }

  release(plan: Plan): void {
    this.pools.release(plan);
  }

  run(pixels: Float32Array, batch: number): Promise<Float32Array> {
    return this.inFlight.track(this.runNow(pixels, batch));
  }

  private async runNow(pixels: Float32Array, batch: number): Promise<Float32Array> {
    if (this.disposed) throw new Error('engine/webgpu: session is disposed');
    const c = this.model.config;
    const per = pixelsPerImage(c);
    if (!Number.isInteger(batch) || batch < 1 || pixels.length !== batch * per) {
      throw new Error(
        `engine/webgpu: run(pixels, ${batch}) needs ${batch} x ${c.numChannels}x${c.imageSize[0]}x${c.imageSize[1]} = ${batch * per} values, got ${pixels.length}`,
      );
    }
    const width = outputWidth(c, this.output);
    const out = new Float32Array(batch * width);
    let ms = 0;
    for (let b0 = 0; b0 < batch; b0 += this.maxPlanBatch) {
      const n = Math.min(this.maxPlanBatch, batch - b0);
      const plan = await this.acquire(n);
      try {
        out.set(await plan.run(pixels.subarray(b0 * per, (b0 + n) * per)), b0 * width);
        ms += plan.lastDeviceMs ?? NaN;
        this.lastHostMs = plan.lastHostMs;
      } finally {
        this.release(plan);
      }
    }
    this.deviceMs = Number.isNaN(ms) ? undefined : ms;
    return out;
  }

  lastDeviceMs(): number | undefined {
    return this.deviceMs;
  }

  describe(): string {
    return this.summary;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.inFlight.settled();
    for (const p of this.all) p.destroy();
    this.all.length = 0;
    this.pools.clear();
    for (const b of this.weights.all) b.destroy();
    this.ctx.destroy();
  }
}

export type { WebGPUSession };

/** Build (and cache) the plan for `batch` without running it: validates every bind group and dispatch. */
export async function preparePlan(session: InferenceSession, batch: number): Promise<{ label: string; grid: [number, number, number] }[]> {
  if (!(session instanceof WebGPUSession)) throw new Error('engine/webgpu: preparePlan needs a webgpu session');
  const plan = await session.acquire(batch);
  session.release(plan);
  return plan.describe();
}

/** Device ms per dispatch of the plan for `batch` on `pixels` (Plan.profile). */
export async function profilePlan(session: InferenceSession, pixels: Float32Array, batch: number, reps?: number): Promise<{ label: string; ms: number }[]> {
  if (!(session instanceof WebGPUSession)) throw new Error('engine/webgpu: profilePlan needs a webgpu session');
  const plan = await session.acquire(batch);
  try {
    return await plan.profile(pixels, reps);
  } finally {
    session.release(plan);
  }
}

export interface WebGPUSessionOptions extends SessionOptions {
  /** Dawn backend override; 'null' validates and compiles everything but computes nothing (tests). */
  dawnBackend?: string;
  /** fp16: 'auto' (default) as described above; 'simt' skips subgroup matrices; 'subgroup-matrix' fails without them. */
  f16Path?: 'auto' | 'simt' | 'subgroup-matrix';
  /** fp16 on subgroup matrices: this SGMAT_TILES tile for every GEMM instead of chooseSgmatTile's (device check). */
  f16Tile?: string;
  /** fp16 on subgroup matrices: attention there too ('auto', the default, after its self-check) or SIMT ('simt'). */
  f16Attention?: 'auto' | 'simt';
  /** That attention's shape (device check); else the first of ATTENTION_SGMAT_CONFIGS the device runs. */
  f16AttentionConfig?: { W: number; CH: number; form: AttentionSgmatForm };
}

/** Tiles a subgroup-matrix plan may use: the forced one, or every one chooseSgmatTile can return here. */
function candidateTiles(forced: string | undefined, lim: SgmatLimits): string[] {
  return forced ? [forced] : SGMAT_CHOSEN.filter((t) => sgmatUsable(t, lim));
}

/** The kernel path for the requested precision and what the device offers, with a one-line reason. */
async function choosePath(ctx: GpuContext, kernels: KernelCache, model: ViTModel, opts: WebGPUSessionOptions): Promise<{ path: PlanPath; what: string }> {
  if ((opts.precision ?? 'fp32') !== 'fp16') return { path: FP32_PATH, what: 'fp32' };
  if (!ctx.hasF16) {
    if (opts.f16Path === 'subgroup-matrix' || opts.f16Path === 'simt') throw new Error('engine/webgpu: fp16 asked for, but the adapter has no shader-f16');
    return { path: FP32_PATH, what: 'fp32 (fp16 asked for: the adapter has no shader-f16)' };
  }
  const simt = { path: { precision: 'fp16' } as PlanPath, what: 'fp16 (SIMT: f16 storage, f32 arithmetic)' };
  if (opts.f16Tile !== undefined && !SGMAT_TILES[opts.f16Tile]) throw new Error(`engine/webgpu: unknown f16 tile ${opts.f16Tile} (${Object.keys(SGMAT_TILES).join(', ')})`);
  const forced = opts.f16Path === 'subgroup-matrix';
  if (opts.f16Path === 'simt' || (!ctx.hasF16Matrix && !forced)) return simt;
  if (!ctx.hasF16Matrix && !(forced && ctx.hasSubgroupMatrixFeature)) throw new Error('engine/webgpu: f16Path subgroup-matrix: the adapter has no f16 -> f32 16x16x16 subgroup matrices');
  const SG = ctx.subgroupSize ?? 32;
  const path: PlanPath = { precision: 'fp16', matrix: { SG, tile: opts.f16Tile } };
  const what = `fp16 (subgroup-matrix f16->f32 16x16x16, subgroup ${SG}${opts.f16Tile ? `, tile ${opts.f16Tile}` : ''})`;
  if (opts.dawnBackend === 'null') return { path, what }; // nothing is computed there
  for (const tile of candidateTiles(opts.f16Tile, sgmatLimits(ctx, SG))) {
    let why: string | undefined;
    try {
      const worst = await checkSgmatTile(ctx, kernels, tile, SG);
      if (!(worst <= 1)) why = `subgroup-matrix tile ${tile} failed its self-check (error ${worst.toPrecision(3)}x the bar)`;
    } catch (e) {
      why = `subgroup-matrix tile ${tile} did not run: ${(e as Error).message.split('\n').slice(0, 2).join(' ')}`;
    }
    if (why) {
      if (forced) throw new Error(`engine/webgpu: ${why}`);
      process.stderr.write(`engine/webgpu: ${why}; using the SIMT f16 path\n`);
      return { path: simt.path, what: `${simt.what.slice(0, -1)}; ${why})` };
    }
  }
  return { path, what: `${what.slice(0, -1)}; ${await chooseAttention(ctx, kernels, model, path, opts)})` };
}

/** Puts subgroup-matrix attention on `path` when the head dim suits it and its self-check passes; says which attention runs. */
async function chooseAttention(ctx: GpuContext, kernels: KernelCache, model: ViTModel, path: PlanPath, opts: WebGPUSessionOptions): Promise<string> {
  const { N, D, heads } = modelShapes(model.config);
  const SIMT = 'SIMT attention';
  if (opts.f16Attention === 'simt') return SIMT;
  if (!attentionSgmatFits(D, heads)) return `${SIMT} (head dim ${D / heads} is not a multiple of 16)`;
  const candidates = attentionSgmatCandidates(N, D, heads, sgmatLimits(ctx, path.matrix!.SG), opts.f16AttentionConfig);
  if (!candidates.length) return `${SIMT} (no subgroup-matrix attention shape fits this device)`;
  const failed: string[] = [];
  for (const cfg of candidates) {
    const name = `${cfg.form} w${cfg.W} ch${cfg.CH}`;
    try {
      const worst = await checkSgmatAttention(ctx, kernels, N, D, heads, cfg);
      if (worst <= 1) {
        path.matrix!.attention = cfg;
        return `subgroup-matrix attention ${name}${failed.length ? ` (${failed.join('; ')})` : ''}`;
      }
      failed.push(`${name} failed its self-check (error ${worst.toPrecision(3)}x the bar)`);
    } catch (e) {
      failed.push(`${name} did not run: ${(e as Error).message.split('\n').slice(0, 2).join(' ')}`);
    }
    process.stderr.write(`engine/webgpu: subgroup-matrix attention ${failed.at(-1)}\n`);
  }
  return `${SIMT}: subgroup-matrix attention ${failed.join('; ')}`;
}

export async function createWebGPUSession(model: ViTModel, opts: WebGPUSessionOptions = {}): Promise<InferenceSession> {
  checkSupported(model);
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'fp16') throw new Error(`engine/webgpu: precision ${precision} is not implemented (fp32, fp16)`);
  const ctx = await createGpuContext({ gpuIndex: opts.gpuIndex, backend: opts.dawnBackend, f16: precision === 'fp16' });
  try {
    const kernels = new KernelCache(ctx);
    const { path, what } = await choosePath(ctx, kernels, model, opts);
    const half = path.precision === 'fp16';
    const weights = await ctx.scoped(`uploading weights of ${model.source}`, () => uploadModel(ctx, model, half));
    const i = ctx.adapterInfo;
    const adapter = [i.description || i.device, i.vendor && `(${i.vendor}${i.architecture ? ` ${i.architecture}` : ''})`].filter(Boolean).join(' ') || 'unnamed adapter';
    const session = new WebGPUSession(model, opts.output ?? 'logits', ctx, kernels, weights, path, `webgpu ${what} on ${adapter}`);
    // Compile the batch-independent kernels now so WGSL errors surface at creation.
    const c = model.config;
    const { N, D, heads, prefix } = modelShapes(c);
    const at = half ? 'f16' : 'f32';
    await Promise.all([
      kernels.layerNorm(D, c.layerNormEps, at),
      kernels.attention(N, D, heads, at),
      kernels.im2col(c.numChannels, c.imageSize[0], c.imageSize[1], c.patchSize, at),
      kernels.embed(N, c.hiddenSize, prefix, at),
    ]);
    return session;
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}
