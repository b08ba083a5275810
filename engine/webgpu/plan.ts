/**
 * The forward pass for one batch size, built once: activation buffers, bind groups, uniforms and the
 * list of dispatches. `run` uploads pixels, records every dispatch into ONE compute pass (timestamps
 * around it when the device has them), copies the output to a staging buffer and maps it.
 *
 * fp16 plans keep the residual stream x, LayerNorm statistics, softmax and every accumulation in f32; the
 * LayerNorm outputs, qkv, attention output, MLP hidden, patches and patch-GEMM output are f16. Their GEMMs
 * run on subgroup matrices (`matrix`) or as SIMT with f16 loads; so does the attention with `matrix.attention`.
 */
import { modelShapes, outputWidth, type ModelOutput } from '../../model/shapes.js';
import type { ViTModel } from '../../model/weights.js';
import type { GpuContext } from './device.js';
import { ELEMENTWISE_THREADS, grid2d } from './kernels/embed.js';
import type { AttentionSgmatShape } from './kernels/attention-sgmat.js';
import type { GemmEpilogue, StorageType } from './kernels/gemm.js';
import { chooseGemmTile, chooseSgmatTile, sgmatLimits, type KernelCache } from './kernels/index.js';
import type { LinearBuffers, ModelBuffers } from './weights.js';

interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number, number];
}

/** Which kernels a plan runs: fp32 SIMT, f16 SIMT, or f16 GEMMs on subgroup matrices. */
export interface PlanPath {
  precision: 'fp32' | 'fp16';
  /** fp16 only: GEMMs on subgroup matrices with subgroups of SG invocations; `tile` forces one tile name. */
  matrix?: { SG: number; tile?: string; attention?: AttentionSgmatShape };
}

export const FP32_PATH: PlanPath = { precision: 'fp32' };

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment

/** Bytes of the largest activation buffer per image: bounds the batch one plan can bind. */
export function bytesPerImage(model: ViTModel): number {
  const { N, D, mlp, Kp, C } = modelShapes(model.config);
  const [H, W] = model.config.imageSize;
  return 4 * Math.max(N * mlp, N * 3 * D, (N - 1) * Kp, C * H * W);
}

export class Plan {
  private readonly dispatches: Dispatch[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly pixels: GPUBuffer;
  private readonly output: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly outBytes: number;
  private readonly query?: { set: GPUQuerySet; resolve: GPUBuffer; staging: GPUBuffer };
  private readonly uniformData: ArrayBuffer;
  private uniformCount = 0;
  private readonly uniform: GPUBuffer;
  lastDeviceMs: number | undefined;
  /** Host-side split of the last run (ms): pixel upload call, encode + submit, wait for the mapped result. */
  lastHostMs: { upload: number; submit: number; wait: number } | undefined;
  /** Mappable pixel staging: written by one host copy, copied to `pixels` on the GPU at the start of a run. */
  private readonly upload: GPUBuffer;
  /** The staging buffer's mapping for the next run, requested after a submit (done when the GPU has read it). */
  private uploadMapping: Promise<void> | undefined;
  private firstRun = true;

  private constructor(
    private readonly ctx: GpuContext,
    readonly batch: number,
    readonly model: ViTModel,
    readonly outputKind: ModelOutput,
    maxDispatches: number,
    private readonly path: PlanPath,
  ) {
    const c = model.config;
    const [H, W] = c.imageSize;
    const inBytes = batch * c.numChannels * H * W * 4;
    this.pixels = this.buf(inBytes, 'pixels', GPUBufferUsage.COPY_DST);
    this.upload = this.own(ctx.device.createBuffer({ size: Math.max(16, Math.ceil(inBytes / 16) * 16), usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true, label: 'pixel upload' }));
    this.outBytes = batch * outputWidth(c, outputKind) * 4;
    this.output = this.buf(this.outBytes, 'output', GPUBufferUsage.COPY_SRC);
    this.staging = this.own(ctx.buffer(this.outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'output staging'));
    this.uniformData = new ArrayBuffer(maxDispatches * UNIFORM_SLOT);
    this.uniform = this.own(ctx.buffer(this.uniformData.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'params'));
    if (ctx.hasTimestamps) {
      this.query = {
        set: ctx.device.createQuerySet({ type: 'timestamp', count: 2 }),
        resolve: this.own(ctx.buffer(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps')),
        staging: this.own(ctx.buffer(16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'timestamps staging')),
      };
    }
  }

  private own(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }

  private buf(bytes: number, label: string, extra = 0): GPUBuffer {
    return this.own(this.ctx.buffer(bytes, GPUBufferUsage.STORAGE | extra, label));
  }

  /** Reserve a 256-byte uniform slot holding four u32 (or f32 by bit pattern). */
  private params(values: number[]): GPUBufferBinding {
    const off = this.uniformCount++ * UNIFORM_SLOT;
    if (off >= this.uniformData.byteLength) throw new Error('engine/webgpu/plan.ts: uniform slots exhausted');
    new Uint32Array(this.uniformData, off, 4).set(values);
    return { buffer: this.uniform, offset: off, size: 16 };
  }

  private add(label: string, pipeline: GPUComputePipeline, resources: (GPUBuffer | GPUBufferBinding)[], grid: number[]): void {
    const entries = resources.map((r, i) => ({ binding: i, resource: 'buffer' in r ? r : { buffer: r } }));
    const bindGroup = this.ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label });
    this.dispatches.push({ label, pipeline, bindGroup, grid: [grid[0] ?? 1, grid[1] ?? 1, grid[2] ?? 1] });
  }

  static async build(
    ctx: GpuContext,
    kernels: KernelCache,
    model: ViTModel,
    weights: ModelBuffers,
    batch: number,
    output: ModelOutput = 'logits',
    path: PlanPath = FP32_PATH,
  ): Promise<Plan> {
    const c = model.config;
    const layersDispatches = 7 * c.numLayers + 8; // upper bound on uniform slots
    const plan = new Plan(ctx, batch, model, output, layersDispatches, path);
    try {
      await ctx.scoped(`building the plan for batch ${batch}`, async () => {
        await plan.record(kernels, weights);
        ctx.device.queue.writeBuffer(plan.uniform, 0, plan.uniformData, 0, plan.uniformCount * UNIFORM_SLOT);
      });
    } catch (e) {
      plan.destroy();
      throw e;
    }
    return plan;
  }

  private async record(kernels: KernelCache, wb: ModelBuffers): Promise<void> {
    const c = this.model.config;
    const B = this.batch;
    const { D, P, N, Kp, heads, mlp, prefix } = modelShapes(c);
    const [H, W] = c.imageSize;
    const np = N - prefix;
    const T = B * N;
    const f4 = 4;
    const half = this.path.precision === 'fp16';
    const at: StorageType = half ? 'f16' : 'f32'; // activations other than x
    const ea = half ? 2 : 4;

    // Activations. patches (im2col output) lives in the MLP hidden buffer and the patch GEMM output in
    // the attention output buffer: both are dead by the time those are first written.
    const x = this.buf(T * D * f4, 'x');
    const h = this.buf(T * D * ea, 'ln out');
    const qkv = this.buf(T * 3 * D * ea, 'qkv');
    const ao = this.buf(T * D * ea, 'attn out');
    const hidBytes = T * mlp * ea;
    const colBytes = B * np * Kp * ea;
    const hid = this.buf(Math.max(hidBytes, colBytes), 'mlp hidden');
    const cols: GPUBufferBinding = { buffer: hid, offset: 0, size: colBytes };
    const pe: GPUBufferBinding = { buffer: ao, offset: 0, size: B * np * D * ea };
    // Logits through the head(s) (features in the head GEMM's A type), or f32 features straight into the output.
    const logits = this.outputKind === 'logits' && wb.head !== undefined;
    const featType: StorageType = logits ? at : 'f32';
    const feat = logits ? this.buf(B * D * ea, 'cls features') : this.output;

    const limit = this.ctx.device.limits.maxComputeWorkgroupStorageSize;
    const matrix = this.path.matrix;
    const gemm = async (label: string, A: GPUBuffer | GPUBufferBinding, lin: LinearBuffers, C: GPUBuffer | GPUBufferBinding, M: number, epi: GemmEpilogue, out: StorageType) => {
      const k = matrix
        ? await kernels.gemmSgmat(lin.K, lin.N, epi, matrix.tile ?? chooseSgmatTile(M, lin.N, sgmatLimits(this.ctx, matrix.SG)), out, matrix.SG)
        : await kernels.gemm(lin.K, lin.N, epi, chooseGemmTile(M, lin.K, lin.N, limit), at, out);
      this.add(label, k.pipeline, [A, lin.w, lin.b, C, this.params([M, 0, 0, 0])], k.kernel.grid(M));
    };
    const elementwise = (count: number) => {
      const [gx, gy] = grid2d(Math.ceil(count / ELEMENTWISE_THREADS));
      return { grid: [gx, gy], gx };
    };

    const act: GemmEpilogue = c.hiddenAct === 'gelu_tanh' ? 'bias-gelu-tanh' : 'bias-gelu';
    const [ln, lnFinal, im2col, embed, attn] = await Promise.all([
      kernels.layerNorm(D, c.layerNormEps, at),
      kernels.layerNorm(D, c.layerNormEps, featType),
      kernels.im2col(c.numChannels, H, W, P, at),
      kernels.embed(N, D, prefix, at),
      matrix?.attention ? kernels.attentionSgmat(N, D, heads, matrix.attention) : kernels.attention(N, D, heads, at),
    ]);

    {
      const total = B * np * Kp;
      const { grid, gx } = elementwise(total);
      this.add('im2col', im2col.pipeline, [this.pixels, cols, this.params([total, gx, 0, 0])], grid);
    }
    await gemm('patchEmbed', cols, wb.patch, pe, B * np, 'bias', at);
    {
      const total = (T * D) / 4;
      const { grid, gx } = elementwise(total);
      this.add('embed', embed.pipeline, [pe, wb.cls, wb.pos, x, this.params([total, gx, 0, 0])], grid);
    }
    const lnRows = (label: string, src: GPUBuffer, g: GPUBuffer, b: GPUBuffer, dst: GPUBuffer, rows: number, inStride: number, k = ln) => {
      const [gx, gy] = grid2d(rows);
      this.add(label, k.pipeline, [src, g, b, dst, this.params([rows, inStride, D / 4, gx])], [gx, gy]);
    };
    for (let i = 0; i < wb.layers.length; i++) {
      const L = wb.layers[i]!;
      lnRows(`block ${i} norm1`, x, L.norm1.g, L.norm1.b, h, T, D / 4);
      await gemm(`block ${i} qkv`, h, L.qkv, qkv, T, 'bias', at);
      this.add(`block ${i} attention`, attn.pipeline, [qkv, ao], attn.kernel.grid(B));
      await gemm(`block ${i} proj`, ao, L.proj, x, T, 'bias-residual', 'f32');
      lnRows(`block ${i} norm2`, x, L.norm2.g, L.norm2.b, h, T, D / 4);
      await gemm(`block ${i} fc1`, h, L.fc1, hid, T, act, at);
      await gemm(`block ${i} fc2`, hid, L.fc2, x, T, 'bias-residual', 'f32');
    }
    // Pooled rows read the final norm of every token (h, activation type) and write f32 features or the head's A.
    const pool = async (label: string, dst: GPUBuffer, first: number, count: number, out: StorageType) => {
      const k = await kernels.pool(N, D, first, count, at, out);
      const { grid, gx } = elementwise((B * D) / 4);
      this.add(label, k.pipeline, [h, dst, this.params([(B * D) / 4, gx, 0, 0])], grid);
    };
    if (prefix === 1 && this.outputKind !== 'mean') {
      // Final norm on the class token of each image only (row stride N*D), then the head.
      lnRows('norm', x, wb.norm.g, wb.norm.b, feat, B, (N * D) / 4, lnFinal);
      if (logits) await gemm('head', feat, wb.head!, this.output, B, 'bias', 'f32');
      return;
    }
    // Final norm on every token, then pooled rows.
    lnRows('norm', x, wb.norm.g, wb.norm.b, h, T, D / 4);
    if (this.outputKind === 'mean') return pool('mean of patch tokens', this.output, prefix, N - prefix, 'f32');
    if (!logits) return pool('mean of class and distillation tokens', this.output, 0, prefix, 'f32');
    // Distilled DeiT: head(cls) / 2 + headDist(dist) / 2 (the halves are in the weights).
    const featDist = this.buf(B * D * ea, 'distillation token features');
    await pool('class token', feat, 0, 1, at);
    await pool('distillation token', featDist, 1, 1, at);
    await gemm('head', feat, wb.head!, this.output, B, 'bias', 'f32');
    await gemm('head_dist', featDist, wb.headDist!, this.output, B, 'bias-residual', 'f32');
  }

  /** One forward pass; `pixels` holds exactly batch images. */
  async run(pixels: Float32Array): Promise<Float32Array> {
    const ctx = this.ctx;
    ctx.check(`batch ${this.batch}`);
    const dev = ctx.device;
    // One host copy, into the mapped staging buffer (any source, shared memory included; writeBuffer would take
    // no SharedArrayBuffer view, so it cost a copy into a host array and then its own staging copy).
    const h0 = performance.now();
    const mapping = this.uploadMapping;
    this.uploadMapping = undefined;
    if (this.upload.mapState !== 'mapped') await (mapping ?? this.upload.mapAsync(GPUMapMode.WRITE));
    new Float32Array(this.upload.getMappedRange(0, pixels.byteLength)).set(pixels);
    this.upload.unmap();
    const h1 = performance.now();

    const enc = dev.createCommandEncoder({ label: `vit batch ${this.batch}` });
    enc.copyBufferToBuffer(this.upload, 0, this.pixels, 0, pixels.byteLength);
    const pass = enc.beginComputePass(
      this.query ? { timestampWrites: { querySet: this.query.set, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
    );
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
    }
    pass.end();
    enc.copyBufferToBuffer(this.output, 0, this.staging, 0, this.outBytes);
    if (this.query) {
      enc.resolveQuerySet(this.query.set, 0, 2, this.query.resolve, 0);
      enc.copyBufferToBuffer(this.query.resolve, 0, this.query.staging, 0, 16);
    }
    const submit = () => dev.queue.submit([enc.finish()]);
    if (this.firstRun) {
      await ctx.scoped(`first run of batch ${this.batch}`, submit);
      this.firstRun = false;
    } else submit();
    this.mapUpload();

    const h2 = performance.now();
    const maps = [this.staging.mapAsync(GPUMapMode.READ)];
    if (this.query) maps.push(this.query.staging.mapAsync(GPUMapMode.READ));
    try {
      await Promise.all(maps);
    } catch (e) {
      // One mapping may have succeeded: unmap it, or every later run fails validation on a mapped buffer.
      for (const b of [this.staging, this.query?.staging]) if (b?.mapState === 'mapped') b.unmap();
      ctx.check(`batch ${this.batch}`);
      throw new Error(`engine/webgpu: reading results of batch ${this.batch} failed: ${(e as Error).message}`);
    }
    this.lastHostMs = { upload: h1 - h0, submit: h2 - h1, wait: performance.now() - h2 };
    const out = new Float32Array(this.staging.getMappedRange(0, this.outBytes).slice(0));
    this.staging.unmap();
    if (this.query) {
      const t = new BigUint64Array(this.query.staging.getMappedRange(0, 16).slice(0));
      this.query.staging.unmap();
      this.lastDeviceMs = t[1]! > t[0]! ? Number(t[1]! - t[0]!) / 1e6 : undefined;
    }
    ctx.check(`batch ${this.batch}`);
    return out;
  }

  /** Asks for the staging buffer's mapping again; a failure surfaces at the next run (or nowhere, after destroy). */
  private mapUpload(): void {
    const m = this.upload.mapAsync(GPUMapMode.WRITE);
    m.catch(() => undefined);
    this.uploadMapping = m;
  }

  /**
   * Device ms per dispatch for `pixels` (profiles): each dispatch in its own compute pass between two
   * timestamps, `reps` times; the median per dispatch. Needs timestamp queries.
   */
  async profile(pixels: Float32Array, reps = 3): Promise<{ label: string; ms: number }[]> {
    const dev = this.ctx.device;
    if (!this.ctx.hasTimestamps) throw new Error('engine/webgpu: profiling needs timestamp queries');
    await this.run(pixels); // uploads the pixels and warms every pipeline
    const n = this.dispatches.length;
    const set = dev.createQuerySet({ type: 'timestamp', count: 2 * n });
    const resolve = this.ctx.buffer(16 * n, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'profile timestamps');
    const read = this.ctx.buffer(16 * n, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'profile staging');
    const ms: number[][] = this.dispatches.map(() => []);
    try {
      for (let r = 0; r < reps; r++) {
        const enc = dev.createCommandEncoder({ label: 'profile' });
        this.dispatches.forEach((d, i) => {
          const pass = enc.beginComputePass({ timestampWrites: { querySet: set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(d.grid[0], d.grid[1], d.grid[2]);
          pass.end();
        });
        enc.resolveQuerySet(set, 0, 2 * n, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
        dev.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        for (let i = 0; i < n; i++) ms[i]!.push(t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 : 0);
      }
    } finally {
      set.destroy();
      resolve.destroy();
      read.destroy();
    }
    return this.dispatches.map((d, i) => ({ label: d.label, ms: ms[i]!.sort((a, b) => a - b)[Math.floor(reps / 2)]! }));
  }

  /** Labels and grids of the recorded dispatches (for reports and tests). */
  describe(): { label: string; grid: [number, number, number] }[] {
    return this.dispatches.map((d) => ({ label: d.label, grid: d.grid }));
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.query?.set.destroy();
  }
}
