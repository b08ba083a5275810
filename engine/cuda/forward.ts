/**
 * The ViT forward pass on one CUDA device: weights uploaded once in the chosen precision, and per batch size a
 * plan (buffers, cuBLASLt calls, kernels) recorded into one CUDA graph. A run copies the pixels into pinned
 * memory, uploads them, launches the graph and reads the logits back on the plan's own stream.
 */
import type { Linear, Tensor, ViTModel } from '../../model/weights.js';
import { modelShapes, outputWidth, type ModelOutput } from '../../model/shapes.js';
import type { CudaApi, DeviceInfo, Handle } from './driver.js';
import { roundToTf32 } from './tf32.js';
import type { HostPins } from './host-pins.js';
import { attentionGeometry, chooseAttention, kernelSource, LN_ROWS_PER_BLOCK, type ActType, type AttentionKind, type KernelName, KERNEL_NAMES } from './kernels.js';
import { ELEM_BYTES, GemmRunner, type Compute, type ElemType, type GemmShape, type PreparedGemm } from './gemm.js';
import { CudaError } from './errors.js';

export type CudaPrecision = 'fp32' | 'tf32' | 'bf16' | 'fp16';
export const CUDA_PRECISIONS: readonly CudaPrecision[] = ['fp32', 'tf32', 'bf16', 'fp16'];

export function actTypeOf(p: CudaPrecision): ActType {
  return p === 'bf16' ? 'bf16' : p === 'fp16' ? 'f16' : 'f32';
}

const P64 = (p: number) => new BigUint64Array([BigInt(p)]);
const I32 = (v: number) => new Int32Array([v]);
const I64 = (v: number) => new BigInt64Array([BigInt(v)]);
const F32 = (v: number) => new Float32Array([v]);

/** The model's shapes at its current image size, in the names the kernels use. */
export function geometry(model: ViTModel) {
  const c = model.config;
  const s = modelShapes(c);
  const [gh, gw] = s.grid;
  return { ...s, H: c.imageSize[0], W: c.imageSize[1], gh, gw, np: gh * gw, hd: s.headDim, M: s.mlp, K: c.numClasses };
}

interface LinearBuffers {
  w: number;
  b?: number;
}

interface BlockBuffers {
  ln1: [number, number];
  qkv: LinearBuffers;
  proj: LinearBuffers;
  ln2: [number, number];
  fc1: LinearBuffers;
  fc2: LinearBuffers;
}

/** Device copies of the weights: GEMM weights in the activation type, everything else float32. */
export interface DeviceWeights {
  patch: LinearBuffers;
  /** The prefix tokens [prefix, D]: class token, then the distillation token of a distilled DeiT. */
  cls: number;
  pos: number;
  blocks: BlockBuffers[];
  norm: [number, number];
  /** Distilled DeiT: head and headDist hold half their weights and biases, so their sum is the average. */
  head?: LinearBuffers;
  headDist?: LinearBuffers;
  bytes: number;
  all: number[];
}

/** The compiled kernels of one (activation type, head size). */
export class Kernels {
  readonly fn: Record<KernelName, Handle>;
  constructor(api: CudaApi, readonly module: Handle, readonly compileMs: number, readonly attention: AttentionKind) {
    this.fn = Object.fromEntries(KERNEL_NAMES.map((n) => [n, api.func(module, n)])) as Record<KernelName, Handle>;
  }
}

/** Everything a session shares between its plans. */
export interface DeviceState {
  api: CudaApi;
  device: DeviceInfo;
  /** The device's primary context, made current before any call from this thread. */
  ctx: Handle;
  model: ViTModel;
  precision: CudaPrecision;
  kernels: Kernels;
  weights: DeviceWeights;
  gelu: 'erf' | 'tanh' | 'epilogue';
  /** What a run returns (logits, or 'cls' / 'mean' features). */
  output: ModelOutput;
  /** Callers' pixel buffers page-locked for direct uploads. */
  pins: HostPins;
}

export function compileKernels(api: CudaApi, device: DeviceInfo, precision: CudaPrecision, headDim: number, attention?: AttentionKind): Kernels {
  const act = actTypeOf(precision);
  const tf32 = precision === 'tf32';
  const kind = attention ?? chooseAttention(act, headDim, device.computeCapability[0], tf32);
  const src = kernelSource({ act, headDim, attention: kind, tf32 });
  const { module, ms } = api.compile(src, `vit_${precision}_hd${headDim}_${kind}.cu`, device.computeCapability);
  return new Kernels(api, module, ms, kind);
}


function launch(api: CudaApi, fn: Handle, grid: [number, number], block: number, stream: Handle, params: ArrayBufferView[]): void {
  api.check('driver', api.cu.cuLaunchKernel(fn, grid[0], grid[1], 1, block, 1, 1, 0, stream, params, null) as number, 'cuLaunchKernel');
}

function gridFor(n: number, block = 256): [number, number] {
  return [Math.max(1, Math.min(Math.ceil(n / block), 65535 * 8)), 1];
}

/**
 * Uploads the weights; 16-bit GEMM weights go through a float32 staging buffer and a device-side conversion;
 * tf32 GEMM weights are rounded to nearest TF32 on the host (the tensor cores would drop the low bits).
 */
export function uploadWeights(api: CudaApi, model: ViTModel, precision: CudaPrecision, convert: Handle): DeviceWeights {
  const act = actTypeOf(precision);
  const all: number[] = [];
  let bytes = 0;
  const f32 = (t: Tensor, what: string): number => {
    const p = api.alloc(t.data.byteLength, what);
    all.push(p);
    bytes += t.data.byteLength;
    api.upload(p, t.data);
    return p;
  };
  let staging = 0, stagingBytes = 0;
  const inAct = (t: Tensor, what: string, gemmWeight = false): number => {
    if (act === 'f32') return f32(precision === 'tf32' && gemmWeight ? { ...t, data: roundToTf32(t.data) } : t, what);
    const d = t.data;
    if (d.byteLength > stagingBytes) {
      if (staging) api.free(staging);
      staging = api.alloc(d.byteLength, 'weight staging');
      stagingBytes = d.byteLength;
    }
    api.upload(staging, d);
    const p = api.alloc(d.length * 2, what);
    all.push(p);
    bytes += d.length * 2;
    launch(api, convert, gridFor(d.length), 256, null, [P64(staging), P64(p), I64(d.length)]);
    api.check('driver', api.cu.cuCtxSynchronize(), 'cuCtxSynchronize', `converting ${what}`);
    return p;
  };
  /** GEMM weight in the activation type; bias in the GEMM's output type (activation, or float32 into the residual). */
  const linear = (l: Linear, what: string, biasInAct: boolean, tf32Operand = true): LinearBuffers => ({
    w: inAct(l.weight, `${what} weight`, tf32Operand),
    b: l.bias && (biasInAct ? inAct(l.bias, `${what} bias`) : f32(l.bias, `${what} bias`)),
  });
  const ln = (n: { weight: Tensor; bias: Tensor }, what: string): [number, number] => [f32(n.weight, `${what} weight`), f32(n.bias, `${what} bias`)];
  const headBuffers = (l: Linear, what: string): LinearBuffers => ({ w: f32(l.weight, `${what} weight`), b: l.bias && f32(l.bias, `${what} bias`) });
  try {
    const w = model.weights;
    const blocks = w.blocks.map((b, i) => ({
      ln1: ln(b.norm1, `block ${i} norm1`),
      qkv: linear(b.qkv, `block ${i} qkv`, true),
      proj: linear(b.proj, `block ${i} proj`, false),
      ln2: ln(b.norm2, `block ${i} norm2`),
      fc1: linear(b.fc1, `block ${i} fc1`, true),
      fc2: linear(b.fc2, `block ${i} fc2`, false),
    }));
    return {
      patch: linear(w.patchEmbed, 'patch embedding', false, false),
      cls: f32(w.dist ? concat(w.cls, w.dist) : w.cls, 'prefix tokens'),
      pos: f32(w.pos, 'position embedding'),
      blocks,
      norm: ln(w.norm, 'final norm'),
      head: w.head && headBuffers(w.headDist ? halved(w.head) : w.head, 'head'),
      headDist: w.headDist && headBuffers(halved(w.headDist), 'distillation head'),
      bytes,
      all,
    };
  } catch (e) {
    for (const p of all) api.free(p);
    throw e;
  } finally {
    if (staging) api.free(staging);
  }
}

function concat(a: Tensor, b: Tensor): Tensor {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { shape: [a.data.length + b.data.length], data };
}

/** A linear layer times 0.5 (exact in float32): two halved heads sum to their average. */
function halved(l: Linear): Linear {
  const half = (t: Tensor): Tensor => ({ shape: t.shape, data: t.data.map((v) => v * 0.5) });
  return l.bias ? { weight: half(l.weight), bias: half(l.bias) } : { weight: half(l.weight) };
}

/** Bytes of activations one plan of `batch` images allocates (for out-of-memory messages). */
export function planBytes(model: ViTModel, precision: CudaPrecision, batch: number, output: ModelOutput = 'logits'): number {
  const g = geometry(model);
  const a = ELEM_BYTES[actTypeOf(precision)];
  const T = batch * g.N;
  return (
    batch * g.C * g.H * g.W * 4 + // pixels
    Math.max(batch * g.np * g.Kp, T * g.M) * a + // im2col patches, reused as the MLP hidden
    batch * g.np * g.D * 4 + // patch embeddings
    T * g.D * 4 + // residual stream
    T * g.D * a * 2 + // LayerNorm output, attention output
    T * 3 * g.D * a + // qkv
    batch * (2 * g.D + outputWidth(model.config, output)) * 4 +
    (g.prefix > 1 || output === 'mean' ? T * g.D * 4 : 0) // final-norm tokens
  );
}

export const WORKSPACE_BYTES = 32 * 2 ** 20;

/** One batch size's buffers, stream, captured graph and pinned host memory. Serves one run at a time. */
export class Plan {
  private readonly bufs: number[] = [];
  private graphExec: Handle = null;
  private graph: Handle = null;
  private readonly stream: Handle;
  private readonly evStart: Handle;
  private readonly evEnd: Handle;
  private readonly hostIn: { ptr: Handle; view: ArrayBuffer };
  private readonly hostOut: { ptr: Handle; view: ArrayBuffer };
  private readonly dIn: number;
  private readonly dOut: number;
  private readonly gemms: GemmRunner;
  lastDeviceMs: number | undefined;
  /** Per stage device time of one instrumented run, for reports (see profile()). */
  private readonly stages: { name: string; run: () => void }[] = [];

  private constructor(private readonly s: DeviceState, readonly batch: number) {
    const { api } = s;
    this.stream = api.stream();
    this.evStart = api.event(true);
    this.evEnd = api.event(true);
    const g = geometry(s.model);
    const inBytes = batch * g.C * g.H * g.W * 4;
    const outBytes = batch * outputWidth(s.model.config, s.output) * 4;
    this.hostIn = api.hostAlloc(inBytes);
    this.hostOut = api.hostAlloc(outBytes);
    this.dIn = this.alloc(inBytes, 'input pixels');
    this.dOut = this.alloc(outBytes, 'logits');
    const ws = this.alloc(WORKSPACE_BYTES, 'cuBLASLt workspace');
    this.gemms = new GemmRunner(api, ws, WORKSPACE_BYTES);
  }

  private alloc(bytes: number, what: string): number {
    const p = this.s.api.alloc(bytes, what);
    this.bufs.push(p);
    return p;
  }

  static build(s: DeviceState, batch: number): Plan {
    const plan = new Plan(s, batch);
    try {
      plan.record();
      return plan;
    } catch (e) {
      plan.destroy();
      if (e instanceof CudaError && e.outOfMemory) {
        const need = planBytes(s.model, s.precision, batch, s.output) / 2 ** 20;
        const free = s.api.memInfo().free / 2 ** 20;
        throw new Error(
          `engine/cuda: out of device memory for a batch of ${batch} (${s.precision}; about ${need.toFixed(0)} MiB of activations, ${free.toFixed(0)} MiB free on ${s.device.name}); use a smaller --batch-size`,
        );
      }
      throw e;
    }
  }

  /** Allocates the activations, chooses each GEMM's algorithm, then captures the whole forward into a graph. */
  private record(): void {
    const { api, model, precision, weights: W, kernels } = this.s;
    const g = geometry(model);
    const B = this.batch, T = B * g.N;
    const act = actTypeOf(precision);
    const a = ELEM_BYTES[act];
    const compute: Compute = precision === 'tf32' ? 'tf32' : 'f32';
    // The MLP hidden [T, M] reuses the im2col buffer [B * np, Kp]: sized for the larger of the two.
    const patches = this.alloc(Math.max(B * g.np * g.Kp, T * g.M) * a, 'patches / MLP hidden');
    const patchOut = this.alloc(B * g.np * g.D * 4, 'patch embeddings');
    const x = this.alloc(T * g.D * 4, 'residual stream');
    const h = this.alloc(T * g.D * a, 'LayerNorm output');
    const qkv = this.alloc(T * 3 * g.D * a, 'qkv');
    const attn = this.alloc(T * g.D * a, 'attention output');
    const mlp = patches;
    const feat = this.alloc(B * g.D * 4, 'class-token features');
    const eps = model.config.layerNormEps;
    const gelu = this.s.gelu;

    const shape = (m: number, n: number, k: number, outType: ElemType, epilogue: GemmShape['epilogue'], accumulate: boolean, wType: ElemType = act): GemmShape => ({
      m, n, k, wType, xType: wType, outType, compute, epilogue, accumulate,
    });
    const G = (s: GemmShape, w: number, xx: number, out: number, bias?: number): PreparedGemm => this.gemms.prepare({ shape: s, w, x: xx, out, bias });

    const fn = kernels.fn;
    const st = this.stream;
    const ops: { name: string; run: () => void }[] = [];
    const op = (name: string, run: () => void) => ops.push({ name, run });
    const k = (f: Handle, grid: [number, number], block: number, params: ArrayBufferView[]) => () => launch(api, f, grid, block, st, params);
    const lnGrid = (rows: number): [number, number] => [Math.ceil(rows / LN_ROWS_PER_BLOCK), 1];
    const gemm = (p: PreparedGemm) => () => p.launch(st);

    op('patch embedding', k(fn.im2col, gridFor(B * g.np * g.Kp), 256, [P64(this.dIn), P64(patches), I32(B), I32(g.C), I32(g.H), I32(g.W), I32(g.P), I32(g.gh), I32(g.gw)]));
    // The patch GEMM stays float32 in tf32 (0.7% of the FLOPs; its rounding error would reach every token).
    const patchShape = { ...shape(g.D, B * g.np, g.Kp, 'f32', 'bias', false), compute: 'f32' as Compute };
    op('patch embedding', gemm(G(patchShape, W.patch.w, patches, patchOut, W.patch.b)));
    op('patch embedding', k(fn.embed, gridFor(T * g.D), 256, [P64(x), P64(patchOut), P64(W.cls), P64(W.pos), I32(B), I32(g.N), I32(g.D), I32(g.prefix)]));
    const scaleLog2 = (1 / Math.sqrt(g.hd)) * Math.LOG2E;
    const ag = attentionGeometry(kernels.attention);
    const attnGrid: [number, number] = [Math.ceil(g.N / ag.queries), B * g.heads];
    const attnBlock = ag.block;
    for (const blk of W.blocks) {
      op('layernorm', k(fn.layer_norm, lnGrid(T), 32 * LN_ROWS_PER_BLOCK, [P64(x), P64(h), P64(blk.ln1[0]), P64(blk.ln1[1]), I32(T), I32(g.D), I64(g.D), F32(eps)]));
      op('qkv', gemm(G(shape(3 * g.D, T, g.D, act, 'bias', false), blk.qkv.w, h, qkv, blk.qkv.b)));
      op('attention', k(fn.attention, attnGrid, attnBlock, [P64(qkv), P64(attn), I32(g.N), I32(g.D), I32(g.heads), F32(scaleLog2)]));
      op('proj', gemm(G(shape(g.D, T, g.D, 'f32', 'bias', true), blk.proj.w, attn, x, blk.proj.b)));
      op('layernorm', k(fn.layer_norm, lnGrid(T), 32 * LN_ROWS_PER_BLOCK, [P64(x), P64(h), P64(blk.ln2[0]), P64(blk.ln2[1]), I32(T), I32(g.D), I64(g.D), F32(eps)]));
      op('fc1', gemm(G(shape(g.M, T, g.D, act, gelu === 'epilogue' ? 'gelu_bias' : 'bias', false), blk.fc1.w, h, mlp, blk.fc1.b)));
      // 16 bytes per thread: T * M / 8 threads for 16-bit activations (the f32 path runs twice the loop).
      if (gelu !== 'epilogue') op('gelu', k(gelu === 'tanh' ? fn.gelu_tanh : fn.gelu_erf, gridFor(Math.ceil((T * g.M) / 8)), 256, [P64(mlp), I64(T * g.M)]));
      op('fc2', gemm(G(shape(g.D, T, g.M, 'f32', 'bias', true), blk.fc2.w, mlp, x, blk.fc2.b)));
    }
    const output = this.s.output;
    const logits = output === 'logits' && W.head !== undefined;
    const hs: GemmShape = { m: g.K, n: B, k: g.D, wType: 'f32', xType: 'f32', outType: 'f32', compute: 'f32', epilogue: 'bias', accumulate: false };
    if (g.prefix === 1 && output !== 'mean') {
      // Final norm on the class-token rows only, then the head in float32.
      op('head', k(fn.layer_norm_f32, lnGrid(B), 32 * LN_ROWS_PER_BLOCK, [P64(x), P64(feat), P64(W.norm[0]), P64(W.norm[1]), I32(B), I32(g.D), I64(g.N * g.D), F32(eps)]));
      if (logits) op('head', gemm(G(hs, W.head!.w, feat, this.dOut, W.head!.b)));
      else op('head', () => api.check('driver', api.cu.cuMemcpyDtoDAsync(this.dOut, feat, B * g.D * 4, st) as number, 'cuMemcpyDtoDAsync'));
    } else {
      // Final norm on every token, then the pooled rows: patch-token mean, or class + distillation tokens.
      const normed = this.alloc(T * g.D * 4, 'final-norm tokens');
      const pool = (dst: number, first: number, count: number) =>
        k(fn.pool_tokens, gridFor(B * g.D), 256, [P64(normed), P64(dst), I32(B), I32(g.N), I32(g.D), I32(first), I32(count)]);
      op('head', k(fn.layer_norm_f32, lnGrid(T), 32 * LN_ROWS_PER_BLOCK, [P64(x), P64(normed), P64(W.norm[0]), P64(W.norm[1]), I32(T), I32(g.D), I64(g.D), F32(eps)]));
      if (output === 'mean') op('head', pool(this.dOut, g.prefix, g.N - g.prefix));
      else if (!logits) op('head', pool(this.dOut, 0, g.prefix));
      else {
        // Distilled DeiT: head(cls) / 2 + headDist(dist) / 2 (the halves are in the weights), the second GEMM accumulating.
        const featDist = this.alloc(B * g.D * 4, 'distillation-token features');
        op('head', pool(feat, 0, 1));
        op('head', pool(featDist, 1, 1));
        op('head', gemm(G(hs, W.head!.w, feat, this.dOut, W.head!.b)));
        op('head', gemm(G({ ...hs, accumulate: true }, W.headDist!.w, featDist, this.dOut, W.headDist!.b)));
      }
    }
    // Choose algorithms (and warm everything up) outside the capture, then capture.
    for (const o of ops) o.run();
    api.check('driver', api.cu.cuStreamSynchronize(st) as number, 'cuStreamSynchronize', 'warming up the forward pass');
    this.stages.push(...ops);
    api.check('driver', api.cu.cuStreamBeginCapture(st, 2 /* CU_STREAM_CAPTURE_MODE_RELAXED */) as number, 'cuStreamBeginCapture');
    try {
      for (const o of ops) o.run();
    } finally {
      const gr = [null];
      const r = api.cu.cuStreamEndCapture(st, gr) as number;
      this.graph = gr[0];
      api.check('driver', r, 'cuStreamEndCapture', 'capturing the forward pass');
    }
    const ex = [null];
    api.check('driver', api.cu.cuGraphInstantiate(ex, this.graph, 0) as number, 'cuGraphInstantiate');
    this.graphExec = ex[0];
  }

  /** Runs one batch: pixels float32 [batch, C, H, W] -> logits float32 [batch, out]. */
  async run(pixels: Float32Array, reusedInput = false): Promise<Float32Array> {
    const { api } = this.s;
    const st = this.stream;
    this.upload(pixels, reusedInput);
    api.check('driver', api.cu.cuEventRecord(this.evStart, st) as number, 'cuEventRecord');
    api.check('driver', api.cu.cuGraphLaunch(this.graphExec, st) as number, 'cuGraphLaunch', `running a batch of ${this.batch}`);
    api.check('driver', api.cu.cuEventRecord(this.evEnd, st) as number, 'cuEventRecord');
    const outBytes = this.hostOut.view.byteLength;
    api.check('driver', api.cu.cuMemcpyDtoHAsync(this.hostOut.ptr, this.dOut, outBytes, st) as number, 'cuMemcpyDtoHAsync', 'reading logits back');
    const done = api.event(false);
    try {
      api.check('driver', api.cu.cuEventRecord(done, st) as number, 'cuEventRecord');
      await waitFor(() => api.eventDone(done), this.lastDeviceMs);
    } finally {
      api.cu.cuEventDestroy(done);
    }
    this.lastDeviceMs = api.elapsedMs(this.evStart, this.evEnd);
    return new Float32Array(this.hostOut.view.slice(0, outBytes));
  }

  /**
   * Pixels to the device on the plan's stream: by DMA straight from the caller's buffer where the caller says it
   * comes back and HostPins has page-locked it (the first such upload read back and compared once), else through
   * the pinned staging buffer.
   */
  private upload(pixels: Float32Array, reusedInput: boolean): void {
    const { api, pins } = this.s;
    const st = this.stream;
    if (reusedInput && pins.pin(pixels)) {
      try {
        api.check('driver', api.cu.cuMemcpyHtoDAsync(this.dIn, pixels, pixels.byteLength, st) as number, 'cuMemcpyHtoDAsync', 'uploading pixels');
        if (pins.verified) return;
        api.check('driver', api.cu.cuStreamSynchronize(st) as number, 'cuStreamSynchronize', 'checking a direct upload');
        const back = new Float32Array(pixels.length);
        api.download(back, this.dIn);
        if (Buffer.compare(new Uint8Array(back.buffer), new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)) === 0) {
          pins.verified = true;
          return;
        }
        pins.disable('a direct upload did not read back equal');
      } catch (e) {
        if (e instanceof CudaError && e.sticky) throw e;
        pins.disable(`direct upload: ${(e as Error).message}`);
      }
    }
    new Float32Array(this.hostIn.view, 0, pixels.length).set(pixels);
    api.check('driver', api.cu.cuMemcpyHtoDAsync(this.dIn, this.hostIn.ptr, pixels.byteLength, st) as number, 'cuMemcpyHtoDAsync', 'uploading pixels');
  }

  /** Device time per stage (each stage run alone, synchronised), for "where the time goes" reports. */
  profile(reps = 5): Record<string, number> {
    const { api } = this.s;
    const out: Record<string, number> = {};
    const a = api.event(true), b = api.event(true);
    try {
      for (let r = 0; r < reps; r++) {
        for (const s of this.stages) {
          api.check('driver', api.cu.cuEventRecord(a, this.stream) as number, 'cuEventRecord');
          s.run();
          api.check('driver', api.cu.cuEventRecord(b, this.stream) as number, 'cuEventRecord');
          api.check('driver', api.cu.cuStreamSynchronize(this.stream) as number, 'cuStreamSynchronize');
          out[s.name] = (out[s.name] ?? 0) + api.elapsedMs(a, b) / reps;
        }
      }
    } finally {
      api.cu.cuEventDestroy(a);
      api.cu.cuEventDestroy(b);
    }
    return out;
  }

  gemmReport(): Map<string, number> {
    return this.gemms.chosenMs;
  }

  destroy(): void {
    const { api } = this.s;
    if (this.stream) api.cu.cuStreamSynchronize(this.stream);
    if (this.graphExec) api.cu.cuGraphExecDestroy(this.graphExec);
    if (this.graph) api.cu.cuGraphDestroy(this.graph);
    this.gemms?.destroy();
    for (const p of this.bufs.splice(0)) api.free(p);
    if (this.hostIn) api.cu.cuMemFreeHost(this.hostIn.ptr);
    if (this.hostOut) api.cu.cuMemFreeHost(this.hostOut.ptr);
    api.cu.cuEventDestroy(this.evStart);
    api.cu.cuEventDestroy(this.evEnd);
    api.cu.cuStreamDestroy(this.stream);
  }
}

/**
 * Resolves when `done()` (the event's query; a failed kernel throws there as a CudaError) turns true, without
 * blocking the thread: sleeps through most of the expected device time, polls with setImmediate (microseconds
 * apart) until 1.25x that time + 2 ms, then every millisecond (a wait that long is queued behind other work).
 */
export async function waitFor(done: () => boolean, expectedMs: number | undefined): Promise<void> {
  const t0 = performance.now();
  if (expectedMs && expectedMs > 3) await new Promise((r) => setTimeout(r, Math.floor(expectedMs - 1.5)));
  const spinUntil = t0 + 1.25 * (expectedMs ?? 0) + 2;
  while (!done()) {
    await new Promise((r) => (performance.now() < spinUntil ? setImmediate(r) : setTimeout(r, 1)));
  }
}
