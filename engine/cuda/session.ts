/**
 * InferenceSession on CUDA (backend 'cuda'): cuBLASLt GEMMs, NVRTC-compiled kernels, one CUDA graph per batch
 * size, two plans per batch size so one batch's upload and read-back overlap another's kernels.
 */
import type { ViTModel } from '../../model/weights.js';
import { outputWidth, type ModelOutput } from '../../model/shapes.js';
import { defaultPrecision, type InferenceSession, type RunHints, type SessionOptions } from '../types.js';
import { CudaApi } from './driver.js';
import { CudaError } from './errors.js';
import { PlanPool, RunsInFlight } from '../plan-pool.js';
import { HostPins, type PinDriver } from './host-pins.js';
import type { AttentionKind } from './kernels.js';
import { actTypeOf, compileKernels, geometry, Plan, uploadWeights, type CudaPrecision, type DeviceState } from './forward.js';

/** Largest batch one plan holds; bigger runs are split. */
export const MAX_PLAN_BATCH = 256;
export const PLANS_IN_FLIGHT = 2;

export interface CudaSessionOptions extends SessionOptions {
  /** GELU: exact erf kernel (default), tanh kernel, or cuBLASLt's fused GELU epilogue (tanh form). */
  gelu?: 'erf' | 'tanh' | 'epilogue';
  /** Attention kernel for fp32/tf32 (default: TF32 tensor cores with split operands where the GPU has them). */
  attention?: AttentionKind;
}

export class CudaSession implements InferenceSession {
  readonly backend = 'cuda' as const;
  private readonly pools = new PlanPool<Plan>(PLANS_IN_FLIGHT);
  private readonly plans: Plan[] = [];
  private readonly inFlight = new RunsInFlight();
  private deviceMs: number | undefined;
  private disposed = false;
  /** Set when a run hit a sticky CUDA error: the context is reset at dispose instead of freed piece by piece. */
  private broken = false;

  constructor(readonly model: ViTModel, readonly state: DeviceState) {}

  get output(): ModelOutput {
    return this.state.output;
  }

  get precision(): CudaPrecision {
    return this.state.precision;
  }

  /** One line: what runs where. */
  describe(): string {
    const d = this.state.device;
    const r = this.state.api.report;
    return `cuda ${this.state.precision} on GPU ${d.ordinal}: ${d.name} (sm_${d.computeCapability.join('')}, driver ${r.driver.version}, NVRTC ${r.nvrtc.version.join('.')}, cuBLASLt ${r.cublasLt.version}; attention ${this.state.kernels.attention})`;
  }

  acquire(batch: number): Promise<Plan> {
    if (this.broken) return Promise.reject(new Error('engine/cuda: an earlier CUDA fault left this session unusable; create a new one'));
    return this.pools.acquire(batch, () => {
      try {
        this.makeCurrent();
        const plan = Plan.build(this.state, batch);
        this.plans.push(plan);
        return plan;
      } catch (e) {
        if (e instanceof CudaError && e.sticky) this.broken = true;
        throw e;
      }
    });
  }

  private makeCurrent(): void {
    this.state.api.check('driver', this.state.api.cu.cuCtxSetCurrent(this.state.ctx) as number, 'cuCtxSetCurrent');
  }

  release(plan: Plan): void {
    this.pools.release(plan);
  }

  run(pixels: Float32Array, batch: number, hints?: RunHints): Promise<Float32Array> {
    return this.inFlight.track(this.runNow(pixels, batch, hints?.reusedInput ?? false));
  }

  private async runNow(pixels: Float32Array, batch: number, reusedInput: boolean): Promise<Float32Array> {
    if (this.disposed) throw new Error('engine/cuda: session is disposed');
    const g = geometry(this.model);
    const per = g.C * g.H * g.W;
    if (!Number.isInteger(batch) || batch < 1 || pixels.length !== batch * per) {
      throw new Error(`engine/cuda: run(pixels, ${batch}) needs ${batch} x ${g.C}x${g.H}x${g.W} = ${batch * per} values, got ${pixels.length}`);
    }
    const width = outputWidth(this.model.config, this.output);
    const out = new Float32Array(batch * width);
    let ms = 0;
    for (let b0 = 0; b0 < batch; b0 += MAX_PLAN_BATCH) {
      const n = Math.min(MAX_PLAN_BATCH, batch - b0);
      const plan = await this.acquire(n);
      try {
        this.makeCurrent();
        out.set(await plan.run(pixels.subarray(b0 * per, (b0 + n) * per), reusedInput), b0 * width);
        ms += plan.lastDeviceMs ?? NaN;
      } catch (e) {
        if (e instanceof CudaError && e.sticky) this.broken = true;
        throw e;
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
    await this.inFlight.settled();
    const { api } = this.state;
    const ordinal = this.state.device.ordinal;
    if (this.broken) {
      // A faulted context cannot free piece by piece: resetting it releases everything it holds.
      this.plans.length = 0;
      api.cu.cuDevicePrimaryCtxRelease(ordinal);
      api.cu.cuDevicePrimaryCtxReset(ordinal);
      return;
    }
    this.makeCurrent();
    this.state.pins.dispose();
    for (const p of this.plans.splice(0)) p.destroy();
    this.pools.clear();
    for (const p of this.state.weights.all) api.free(p);
    api.cu.cuModuleUnload(this.state.kernels.module);
    api.cu.cuDevicePrimaryCtxRelease(ordinal);
  }
}

export async function createCudaSession(model: ViTModel, opts: CudaSessionOptions = {}): Promise<CudaSession> {
  const c = model.config;
  const precision = opts.precision ?? defaultPrecision('cuda');
  if (precision === 'int8') throw new Error('engine/cuda: precision int8 is not implemented (fp32, tf32, bf16, fp16)');
  const act = actTypeOf(precision);
  const hd = c.hiddenSize / c.numHeads;
  if (!Number.isInteger(hd) || (act !== 'f32' && hd % 8 !== 0) || hd > 256) {
    throw new Error(`engine/cuda: ${model.source}: head dim ${c.hiddenSize}/${c.numHeads} is not supported in ${precision} (needs a multiple of 8, at most 256)`);
  }
  const api = await CudaApi.get();
  const ordinal = opts.gpuIndex ?? 0;
  const device = api.device(ordinal);
  if (precision !== 'fp32' && device.computeCapability[0] < 8) {
    throw new Error(`engine/cuda: --precision ${precision} needs compute capability 8.0 or newer; ${device.name} is ${device.computeCapability.join('.')}: use --precision fp32`);
  }
  const ctx = api.retainContext(ordinal);
  try {
    const kernels = compileKernels(api, device, precision, hd, opts.attention);
    const weights = uploadWeights(api, model, precision, kernels.fn.convert_f32);
    const gelu = opts.gelu ?? (c.hiddenAct === 'gelu_tanh' ? 'tanh' : 'erf');
    return new CudaSession(model, { api, device, ctx, model, precision, kernels, weights, gelu, output: opts.output ?? 'logits', pins: new HostPins(api.cu as PinDriver, (v) => api.koffi.address(v)) });
  } catch (e) {
    api.cu.cuDevicePrimaryCtxRelease(ordinal);
    throw e;
  }
}
