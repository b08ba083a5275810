/**
 * InferenceSession on our own WGSL kernels (backend 'webgpu'). Weights are uploaded once; one Plan per
 * batch size is built on first use and cached. Batches larger than one binding can hold (or than
 * MAX_PLAN_BATCH) run as consecutive chunks. A plan serves one run at a time (it owns its buffers);
 * up to PLANS_IN_FLIGHT plans per batch size let concurrent runs overlap one's upload and read-back with
 * another's compute.
 */
import { modelShapes, outputWidth, pixelsPerImage, type ModelOutput } from '../../model/shapes.js';
import type { ViTModel } from '../../model/weights.js';
import type { InferenceSession, SessionOptions } from '../types.js';
import { createGpuContext, type GpuContext } from './device.js';
import { KernelCache } from './kernels/index.js';
import { bytesPerImage, Plan } from './plan.js';
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

interface PlanPool {
  free: Plan[];
  count: number;
  waiters: ((p: Plan) => void)[];
}

class WebGPUSession implements InferenceSession {
  readonly backend = 'webgpu' as const;
  private readonly pools = new Map<number, PlanPool>();
  private readonly all: Plan[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
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
  ) {
    const limit = Math.min(ctx.device.limits.maxStorageBufferBindingSize, ctx.device.limits.maxBufferSize);
    this.maxPlanBatch = Math.max(1, Math.min(MAX_PLAN_BATCH, Math.floor(limit / bytesPerImage(model))));
  }

  /** A free plan for `batch`: a cached one, a new one while fewer than PLANS_IN_FLIGHT exist, else wait. */
  async acquire(batch: number): Promise<Plan> {
    let pool = this.pools.get(batch);
    if (!pool) this.pools.set(batch, (pool = { free: [], count: 0, waiters: [] }));
    const free = pool.free.pop();
    if (free) return free;
    if (pool.count < PLANS_IN_FLIGHT) {
      pool.count++;
      try {
        const plan = await Plan.build(this.ctx, this.kernels, this.model, this.weights, batch, this.output);
        this.all.push(plan);
        return plan;
      } catch (e) {
        pool.count--;
        throw e;
      }
    }
    return new Promise<Plan>((resolve) => pool.waiters.push(resolve));
  }

  release(plan: Plan): void {
    const pool = this.pools.get(plan.batch)!;
    const next = pool.waiters.shift();
    if (next) next(plan);
    else pool.free.push(plan);
  }

  run(pixels: Float32Array, batch: number): Promise<Float32Array> {
    const p = this.runNow(pixels, batch);
    const tracked = p.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return p;
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

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.inFlight);
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

export interface WebGPUSessionOptions extends SessionOptions {
  /** Dawn backend override; 'null' validates and compiles everything but computes nothing (tests). */
  dawnBackend?: string;
}

export async function createWebGPUSession(model: ViTModel, opts: WebGPUSessionOptions = {}): Promise<InferenceSession> {
  checkSupported(model);
  const ctx = await createGpuContext({ gpuIndex: opts.gpuIndex, backend: opts.dawnBackend });
  try {
    const kernels = new KernelCache(ctx);
    const weights = await ctx.scoped(`uploading weights of ${model.source}`, () => uploadModel(ctx, model));
    const session = new WebGPUSession(model, opts.output ?? 'logits', ctx, kernels, weights);
    // Compile the batch-independent kernels now so WGSL errors surface at creation.
    const c = model.config;
    const { N, D, heads, prefix } = modelShapes(c);
    await Promise.all([
      kernels.layerNorm(D, c.layerNormEps),
      kernels.attention(N, D, heads),
      kernels.im2col(c.numChannels, c.imageSize[0], c.imageSize[1], c.patchSize),
      kernels.embed(N, c.hiddenSize, prefix),
    ]);
    return session;
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}
