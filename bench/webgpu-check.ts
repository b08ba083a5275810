/**
 * Device check for the WebGPU backend (engine/webgpu), run on a GPU machine:
 *
 *   node dist/bench/webgpu-check.js --out DIR [--only adapter,kernels,gemm-speed,attn-speed,fixtures,random,throughput]
 *       [--kernels gemm,layernorm,attention] [--gemm-variants all|NAME,NAME] [--backend null]
 *
 * Sections (each one isolated: a failure is recorded and the next section runs):
 *   adapter     adapter info, features, limits
 *   kernels     GEMM (every epilogue, every tile of every GEMM variant) / LayerNorm / attention vs
 *               float64 CPU references, outputs poisoned with NaN first so unwritten elements show
 *               (--kernels picks the families)
 *   gemm-speed  GEMM TFLOP/s per GEMM variant at ViT-B shapes, M = 197*64 and M = 197 (batch 1),
 *               median of timed passes
 *   attn-speed  attention time at B=64, N=197, ViT-B heads
 *   fixtures    logits of every committed fixture whose model is in test/fixtures/models, atol=rtol=1e-4
 *   random      a random tiny model (batch 3, odd sizes) vs the float64 CPU forward
 *   throughput  ViT-B/16 random weights: img/s (wall clock, >= 2 s) and device ms at several batches;
 *               with --gemm-variants, also batch 64 and 1 at 224 once per variant (VIT_WEBGPU_GEMM),
 *               logits compared with the base variant's
 * Writes DIR/webgpu-check.json and prints a summary table last.
 */
import { mkdirSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViTConfig, ViTModel, Weights } from '../engine/config.js';
import { createGpuContext, describeAdapter, type GpuContext } from '../engine/webgpu/device.js';
import { GEMM_TILES, GEMM_VARIANTS, gemmVariant } from '../engine/webgpu/kernels/index.js';
import type { GemmConfig, GemmEpilogue } from '../engine/webgpu/kernels/gemm.js';
import { gemmConfigKey, gemmKernel, pad4 } from '../engine/webgpu/kernels/gemm.js';
import { layerNormKernel } from '../engine/webgpu/kernels/layernorm.js';
import { attentionKernel } from '../engine/webgpu/kernels/attention.js';
import { transposePad, padTo4 } from '../engine/webgpu/weights.js';
import { attention64, compare, forward64, layerNorm64, linear64, randomArray, type Act } from '../engine/webgpu/reference.js';
import { createWebGPUSession } from '../engine/webgpu/session.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const t0 = Date.now();
const BUDGET_MS = 7 * 60_000; // leave room inside the 8-minute limit
const report: Record<string, unknown> = { started: new Date().toISOString(), node: process.version };
const summary: string[] = [];

function args(): { out: string; only?: Set<string>; backend?: string; kernels?: Set<string>; gemmVariants: string[] } {
  const a = process.argv.slice(2);
  let out = process.env.OUT ?? 'out';
  let only: Set<string> | undefined;
  let backend: string | undefined;
  let kernels: Set<string> | undefined;
  let gemmVariants: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--out') out = a[++i]!;
    else if (a[i] === '--only') only = new Set(a[++i]!.split(','));
    // --backend null: Dawn's null backend compiles and validates everything without a GPU (results are garbage).
    else if (a[i] === '--backend') backend = a[++i]!;
    else if (a[i] === '--kernels') kernels = new Set(a[++i]!.split(','));
    else if (a[i] === '--gemm-variants') {
      const v = a[++i]!;
      gemmVariants = v === 'all' ? GEMM_VARIANTS.map((g) => g.name) : v.split(',').map((n) => gemmVariant(n).name);
    } else throw new Error(`bench/webgpu-check.ts: unknown argument ${a[i]}`);
  }
  return { out, only, backend, kernels, gemmVariants };
}
const ARGS = args();
const BACKEND = ARGS.backend;

function log(s: string) {
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}\n`);
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

// ---------------------------------------------------------------- small GPU harness
const U = () => GPUBufferUsage;

function storage(ctx: GpuContext, data: Float32Array, label: string): GPUBuffer {
  return ctx.upload(data, label, U().COPY_SRC);
}

async function readBack(ctx: GpuContext, buf: GPUBuffer, floats: number): Promise<Float32Array> {
  const st = ctx.buffer(floats * 4, U().MAP_READ | U().COPY_DST, 'readback');
  const enc = ctx.device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, st, 0, Math.ceil((floats * 4) / 4) * 4);
  ctx.device.queue.submit([enc.finish()]);
  await st.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(st.getMappedRange(0, floats * 4).slice(0));
  st.unmap();
  st.destroy();
  return out;
}

function uniform(ctx: GpuContext, values: number[]): GPUBuffer {
  const b = ctx.buffer(16, U().UNIFORM | U().COPY_DST, 'params');
  ctx.device.queue.writeBuffer(b, 0, new Uint32Array([...values, 0, 0, 0, 0].slice(0, 4)));
  return b;
}

function bindGroup(ctx: GpuContext, pipeline: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
  return ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

/** Encode `reps` dispatches in one pass; returns device ms of the pass (timestamps) or wall ms. */
async function timedPass(ctx: GpuContext, pipeline: GPUComputePipeline, bg: GPUBindGroup, grid: number[], reps: number): Promise<number> {
  const dev = ctx.device;
  const enc = dev.createCommandEncoder();
  let qs: GPUQuerySet | undefined;
  let resolveBuf: GPUBuffer | undefined;
  let st: GPUBuffer | undefined;
  if (ctx.hasTimestamps) {
    qs = dev.createQuerySet({ type: 'timestamp', count: 2 });
    resolveBuf = ctx.buffer(16, U().QUERY_RESOLVE | U().COPY_SRC);
    st = ctx.buffer(16, U().MAP_READ | U().COPY_DST);
  }
  const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bg);
  for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(grid[0]!, grid[1] ?? 1, grid[2] ?? 1);
  pass.end();
  if (qs) {
    enc.resolveQuerySet(qs, 0, 2, resolveBuf!, 0);
    enc.copyBufferToBuffer(resolveBuf!, 0, st!, 0, 16);
  }
  const w0 = performance.now();
  dev.queue.submit([enc.finish()]);
  if (st) {
    await st.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(st.getMappedRange().slice(0));
    st.unmap();
    st.destroy();
    resolveBuf!.destroy();
    qs!.destroy();
    return Number(t[1]! - t[0]!) / 1e6;
  }
  await dev.queue.onSubmittedWorkDone();
  return performance.now() - w0;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

// ---------------------------------------------------------------- kernels vs float64
interface GemmCase {
  M: number;
  K: number;
  N: number;
  epi: GemmEpilogue;
}

async function gemmCorrectness(ctx: GpuContext, results: unknown[]) {
  const cases: GemmCase[] = [
    { M: 197 * 2 + 3, K: 768, N: 2304, epi: 'bias' },
    { M: 197 * 2 + 3, K: 768, N: 768, epi: 'bias-residual' },
    { M: 197 * 2 + 3, K: 768, N: 3072, epi: 'bias-gelu' },
    { M: 197 * 2 + 3, K: 3072, N: 768, epi: 'bias-residual' },
    { M: 197 * 2 + 3, K: 96, N: 100, epi: 'bias-gelu-tanh' },
    { M: 197 * 2 + 3, K: 96, N: 10, epi: 'bias' },
    { M: 5, K: 192, N: 1000, epi: 'bias' },
    { M: 131, K: 52, N: 36, epi: 'bias-residual' },
    { M: 197, K: 3072, N: 768, epi: 'bias-residual' }, // batch-1 fc2: the small-M (split-K) path
  ];
  // Every configuration some variant can choose, plus the other base tiles; each named by the variants using it.
  const configs = new Map<string, { cfg: GemmConfig; variants: string[] }>();
  for (const cfg of [...GEMM_TILES, { BM: 128, BN: 128, BK: 16 }]) configs.set(gemmConfigKey(cfg), { cfg, variants: [] });
  for (const v of GEMM_VARIANTS) {
    for (const cfg of v.configs) {
      const key = gemmConfigKey(cfg);
      if (!configs.has(key)) configs.set(key, { cfg, variants: [] });
      configs.get(key)!.variants.push(v.name);
    }
  }
  for (const c of cases) {
    const a = randomArray(c.M * c.K, 11 + c.K, 1);
    const w = randomArray(c.N * c.K, 23 + c.N, 1 / Math.sqrt(c.K));
    const bias = randomArray(c.N, 5 + c.N, 0.5);
    const res = c.epi === 'bias-residual' ? randomArray(c.M * c.N, 7, 1) : undefined;
    const act: Act = c.epi === 'bias-gelu' ? 'gelu' : c.epi === 'bias-gelu-tanh' ? 'gelu_tanh' : 'none';
    const ref = linear64(a, w, bias, c.M, c.K, c.N, act, res);
    const A = storage(ctx, a, 'A');
    const B = storage(ctx, transposePad(w, c.N, c.K), 'B');
    const bb = storage(ctx, padTo4(bias), 'bias');
    for (const [key, { cfg, variants }] of configs) {
      const name = `gemm M${c.M} K${c.K} N${c.N} ${c.epi} ${key}${variants.length ? ` [${variants.join(' ')}]` : ''}`;
      try {
        const k = gemmKernel({ K: c.K, N: c.N, epilogue: c.epi, ...cfg });
        const pipe = await ctx.pipeline(k.code, name);
        const C = storage(ctx, res ? new Float32Array(res) : new Float32Array(c.M * c.N).fill(NaN), 'C');
        const P = uniform(ctx, [c.M]);
        const bg = bindGroup(ctx, pipe, [A, B, bb, C, P]);
        await timedPass(ctx, pipe, bg, k.grid(c.M), 1);
        const out = await readBack(ctx, C, c.M * c.N);
        const cmp = compare(out, ref);
        const ok = cmp.rel < 1e-5 && cmp.nan === 0;
        results.push({ name, config: key, variants, ...cmp, ok });
        log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max|d| ${fmt(cmp.maxAbs)} rel ${fmt(cmp.rel)}${cmp.nan ? ` nan ${cmp.nan}` : ''}`);
        C.destroy();
        P.destroy();
      } catch (e) {
        results.push({ name, config: key, variants, error: String(e) });
        log(`FAIL ${name}: ${e}`);
      }
    }
    A.destroy();
    B.destroy();
    bb.destroy();
  }
}

async function layerNormCorrectness(ctx: GpuContext, results: unknown[]) {
  const cases = [
    { rows: 397, D: 768, eps: 1e-6, stride: 0 },
    { rows: 397, D: 96, eps: 1e-12, stride: 0 },
    { rows: 70, D: 1280, eps: 1e-6, stride: 0 },
    { rows: 3, D: 192, eps: 1e-6, stride: 197 }, // class-token gather: row r at r*197*D
  ];
  for (const c of cases) {
    const name = `layernorm rows${c.rows} D${c.D} eps${c.eps}${c.stride ? ` stride${c.stride}` : ''}`;
    try {
      const inRows = c.stride ? c.rows * c.stride : c.rows;
      // Offset mean (3) and non-unit spread, as residual streams have.
      const x = randomArray(inRows * c.D, 99 + c.D, 2).map((v) => v + 3);
      const g = randomArray(c.D, 3, 0.3).map((v) => v + 1);
      const b = randomArray(c.D, 4, 0.2);
      const gathered = new Float32Array(c.rows * c.D);
      for (let r = 0; r < c.rows; r++) gathered.set(x.subarray(r * (c.stride || 1) * c.D, (r * (c.stride || 1) + 1) * c.D), r * c.D);
      const ref = layerNorm64(gathered, g, b, c.rows, c.D, c.eps);
      const k = layerNormKernel(c.D, c.eps);
      const pipe = await ctx.pipeline(k.code, name);
      const X = storage(ctx, x, 'x');
      const G = storage(ctx, padTo4(g), 'g');
      const Bb = storage(ctx, padTo4(b), 'b');
      const Y = storage(ctx, new Float32Array(c.rows * c.D).fill(NaN), 'y');
      const P = uniform(ctx, [c.rows, ((c.stride || 1) * c.D) / 4, c.D / 4, c.rows]);
      await timedPass(ctx, pipe, bindGroup(ctx, pipe, [X, G, Bb, Y, P]), [c.rows, 1], 1);
      const cmp = compare(await readBack(ctx, Y, c.rows * c.D), ref);
      const ok = cmp.maxAbs < 1e-5;
      results.push({ name, ...cmp, ok });
      log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max|d| ${fmt(cmp.maxAbs)} rel ${fmt(cmp.rel)}`);
      for (const buf of [X, G, Bb, Y, P]) buf.destroy();
    } catch (e) {
      results.push({ name, error: String(e) });
      log(`FAIL ${name}: ${e}`);
    }
  }
}

async function attentionCorrectness(ctx: GpuContext, results: unknown[]) {
  const cases = [
    { B: 2, N: 197, D: 768, H: 12 },
    { B: 1, N: 577, D: 768, H: 12 },
    { B: 3, N: 50, D: 96, H: 4 }, // head dim 24
    { B: 2, N: 197, D: 192, H: 3 },
    { B: 1, N: 5, D: 96, H: 2 }, // fewer keys than one tile
  ];
  for (const c of cases) {
    const name = `attention B${c.B} N${c.N} D${c.D} H${c.H} (hd ${c.D / c.H})`;
    try {
      // Spread 2 so the softmax is far from uniform.
      const qkv = randomArray(c.B * c.N * 3 * c.D, 17 + c.N, 2);
      const ref = attention64(qkv, c.B, c.N, c.D, c.H);
      const k = attentionKernel(c.N, c.D, c.H);
      const pipe = await ctx.pipeline(k.code, name);
      const Q = storage(ctx, qkv, 'qkv');
      const O = storage(ctx, new Float32Array(c.B * c.N * c.D).fill(NaN), 'o');
      await timedPass(ctx, pipe, bindGroup(ctx, pipe, [Q, O]), k.grid(c.B), 1);
      const cmp = compare(await readBack(ctx, O, c.B * c.N * c.D), ref);
      const ok = cmp.rel < 1e-5 && cmp.nan === 0;
      results.push({ name, ...cmp, ok });
      log(`${ok ? 'ok  ' : 'FAIL'} ${name}: max|d| ${fmt(cmp.maxAbs)} rel ${fmt(cmp.rel)}${cmp.nan ? ` nan ${cmp.nan}` : ''}`);
      for (const buf of [Q, O]) buf.destroy();
    } catch (e) {
      results.push({ name, error: String(e) });
      log(`FAIL ${name}: ${e}`);
    }
  }
}

// ---------------------------------------------------------------- speed
interface GemmTiming {
  variant: string;
  layer: string;
  M: number;
  K: number;
  N: number;
  config: string;
  ms?: number;
  tflops?: number;
  error?: string;
}

/** Every variant's choice for each ViT-B GEMM at batch 64 and batch 1; a configuration shared by
 * variants is timed once. Median over 21 passes of `reps` back-to-back dispatches. */
async function gemmSpeed(ctx: GpuContext): Promise<GemmTiming[]> {
  const layers = [
    { K: 768, N: 2304, layer: 'qkv', epi: 'bias' as GemmEpilogue },
    { K: 768, N: 768, layer: 'proj', epi: 'bias-residual' as GemmEpilogue },
    { K: 768, N: 3072, layer: 'fc1', epi: 'bias-gelu' as GemmEpilogue },
    { K: 3072, N: 768, layer: 'fc2', epi: 'bias-residual' as GemmEpilogue },
  ];
  const out: GemmTiming[] = [];
  for (const M of [197 * 64, 197]) {
    const reps = M >= 4096 ? 5 : 40; // keep each timed pass well above a millisecond
    for (const s of layers) {
      const A = storage(ctx, randomArray(M * s.K, 3, 1), 'A');
      const B = storage(ctx, randomArray(s.K * pad4(s.N), 5, 0.05), 'B');
      const bias = storage(ctx, randomArray(pad4(s.N), 6, 0.1), 'bias');
      const C = ctx.buffer(M * s.N * 4, U().STORAGE, 'C');
      const P = uniform(ctx, [M]);
      const timed = new Map<string, { ms?: number; tflops?: number; error?: string }>();
      for (const v of GEMM_VARIANTS) {
        const cfg = v.choose(M, s.N);
        const key = gemmConfigKey(cfg);
        let r = timed.get(key);
        if (!r) {
          const name = `${s.layer} M${M} K${s.K} N${s.N} ${key}`;
          try {
            const k = gemmKernel({ K: s.K, N: s.N, epilogue: s.epi, ...cfg });
            const pipe = await ctx.pipeline(k.code, name);
            const bg = bindGroup(ctx, pipe, [A, B, bias, C, P]);
            await timedPass(ctx, pipe, bg, k.grid(M), reps); // warm-up
            const times: number[] = [];
            for (let i = 0; i < 21; i++) times.push((await timedPass(ctx, pipe, bg, k.grid(M), reps)) / reps);
            const ms = median(times);
            r = { ms, tflops: (2 * M * s.N * s.K) / (ms * 1e-3) / 1e12 };
            log(`${name}: ${ms.toFixed(4)} ms  ${r.tflops!.toFixed(2)} TFLOP/s`);
          } catch (e) {
            r = { error: String(e) };
            log(`FAIL ${name}: ${e}`);
          }
          timed.set(key, r);
        }
        out.push({ variant: v.name, layer: s.layer, M, K: s.K, N: s.N, config: key, ...r });
      }
      for (const b of [A, B, bias, C, P]) b.destroy();
    }
  }
  for (const line of gemmTable(out)) log(line);
  return out;
}

/** Variant x layer table of TFLOP/s (qkv/proj/fc1/fc2 at each M), plus the MAC-weighted mean at each M. */
function gemmTable(rows: GemmTiming[]): string[] {
  const cols = [...new Set(rows.map((r) => `${r.layer}@${r.M}`))];
  const lines = [`${'variant'.padEnd(8)} ${cols.map((c) => c.padStart(11)).join(' ')} ${[...new Set(rows.map((r) => `mean@${r.M}`))].map((c) => c.padStart(11)).join(' ')}`];
  for (const v of [...new Set(rows.map((r) => r.variant))]) {
    const mine = rows.filter((r) => r.variant === v);
    const cells = cols.map((c) => {
      const r = mine.find((x) => `${x.layer}@${x.M}` === c);
      return (r?.tflops ? r.tflops.toFixed(2) : 'ERR').padStart(11);
    });
    // Time-weighted: total FLOP over total ms of the four layers (their shares in ViT-B are equal per layer).
    const means = [...new Set(mine.map((r) => r.M))].map((M) => {
      const at = mine.filter((r) => r.M === M);
      if (at.some((r) => !r.ms)) return 'ERR'.padStart(11);
      const flop = at.reduce((a, r) => a + 2 * r.M * r.N * r.K, 0);
      const ms = at.reduce((a, r) => a + r.ms!, 0);
      return (flop / (ms * 1e-3) / 1e12).toFixed(2).padStart(11);
    });
    lines.push(`${v.padEnd(8)} ${cells.join(' ')} ${means.join(' ')}`);
  }
  return lines;
}

async function attentionSpeed(ctx: GpuContext) {
  const out: unknown[] = [];
  for (const c of [{ B: 64, N: 197, D: 768, H: 12 }, { B: 16, N: 577, D: 768, H: 12 }]) {
    const name = `attention B${c.B} N${c.N} D${c.D} H${c.H}`;
    const k = attentionKernel(c.N, c.D, c.H);
    const pipe = await ctx.pipeline(k.code, name);
    const Q = storage(ctx, randomArray(c.B * c.N * 3 * c.D, 9, 1), 'qkv');
    const O = ctx.buffer(c.B * c.N * c.D * 4, U().STORAGE, 'o');
    const bg = bindGroup(ctx, pipe, [Q, O]);
    await timedPass(ctx, pipe, bg, k.grid(c.B), 3);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) times.push((await timedPass(ctx, pipe, bg, k.grid(c.B), 3)) / 3);
    const ms = median(times);
    const flops = 4 * c.B * c.N * c.N * c.D;
    out.push({ name, ms, tflops: flops / (ms * 1e-3) / 1e12 });
    log(`${name}: ${ms.toFixed(3)} ms (${(flops / (ms * 1e-3) / 1e12).toFixed(2)} TFLOP/s)`);
    for (const b of [Q, O]) b.destroy();
  }
  return out;
}

// ---------------------------------------------------------------- models
/** A model with random weights of the given sizes, in canonical layout (independent of loaders/). */
function syntheticModel(dims: { D: number; layers: number; heads: number; mlp: number; classes: number; P: number; size: [number, number]; act?: 'gelu' | 'gelu_tanh'; eps?: number }): ViTModel {
  const { D, layers, heads, mlp, classes, P, size } = dims;
  const np = Math.floor(size[0] / P) * Math.floor(size[1] / P);
  const w: Weights = {};
  let seed = 1;
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    w[name] = { shape, data: randomArray(n, seed++, scale).map((v) => v + offset) };
  };
  put('cls_token', [1, 1, D], 0.5);
  put('pos_embed', [1, 1 + np, D], 0.5);
  put('patch_embed.proj.weight', [D, 3, P, P], Math.sqrt(3 / (3 * P * P)));
  put('patch_embed.proj.bias', [D], 0.1);
  for (let i = 0; i < layers; i++) {
    const p = `blocks.${i}`;
    put(`${p}.norm1.weight`, [D], 0.2, 1);
    put(`${p}.norm1.bias`, [D], 0.1);
    put(`${p}.attn.qkv.weight`, [3 * D, D], Math.sqrt(3 / D));
    put(`${p}.attn.qkv.bias`, [3 * D], 0.1);
    put(`${p}.attn.proj.weight`, [D, D], Math.sqrt(3 / D));
    put(`${p}.attn.proj.bias`, [D], 0.1);
    put(`${p}.norm2.weight`, [D], 0.2, 1);
    put(`${p}.norm2.bias`, [D], 0.1);
    put(`${p}.mlp.fc1.weight`, [mlp, D], Math.sqrt(3 / D));
    put(`${p}.mlp.fc1.bias`, [mlp], 0.1);
    put(`${p}.mlp.fc2.weight`, [D, mlp], Math.sqrt(3 / mlp));
    put(`${p}.mlp.fc2.bias`, [D], 0.1);
  }
  put('norm.weight', [D], 0.2, 1);
  put('norm.bias', [D], 0.1);
  if (classes > 0) {
    put('head.weight', [classes, D], Math.sqrt(3 / D));
    put('head.bias', [classes], 0.1);
  }
  const config: ViTConfig = {
    format: 'timm',
    architecture: `synthetic_d${D}`,
    imageSize: size,
    patchSize: P,
    numChannels: 3,
    hiddenSize: D,
    numLayers: layers,
    numHeads: heads,
    mlpDim: mlp,
    numClasses: classes,
    layerNormEps: dims.eps ?? 1e-6,
    qkvBias: true,
    hiddenAct: dims.act ?? 'gelu',
    preprocess: { mode: 'resize', size, cropPct: 1, interpolation: 'bilinear', rescale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    posEmbedResample: 'timm',
  };
  return { config, weights: w, source: `synthetic:d${D}` };
}

function allClose(out: Float32Array, ref: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): { ok: boolean; worst: number } {
  let worst = 0;
  let ok = out.length === ref.length;
  for (let i = 0; i < out.length; i++) {
    const d = Math.abs(out[i]! - ref[i]!);
    const lim = atol + rtol * Math.abs(ref[i]!);
    if (!(d <= lim)) ok = false;
    worst = Math.max(worst, Number.isFinite(d) ? d / lim : Infinity);
  }
  return { ok, worst };
}

async function fixtures() {
  const out: unknown[] = [];
  const dir = join(ROOT, 'test', 'fixtures');
  let loadModel: ((p: string, o: { imageSize?: [number, number] }) => Promise<ViTModel>) | undefined;
  let readSafetensors: ((p: string) => Promise<{ tensors: Record<string, { shape: number[]; data: Float32Array }> }>) | undefined;
  try {
    ({ loadModel } = await import('../loaders/checkpoint.js'));
    ({ readSafetensors } = await import('../loaders/safetensors.js'));
  } catch (e) {
    log(`fixtures skipped: loaders not importable (${e})`);
    return [{ skipped: `loaders not importable: ${e}` }];
  }
  const models = existsSync(join(dir, 'models')) ? readdirSync(join(dir, 'models')) : [];
  const jobs: { file: string; modelDir: string; size: [number, number] }[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()) {
    const m = /^(.*)-(\d+)(?:x(\d+))?\.safetensors$/.exec(f);
    if (m && models.includes(m[1]!)) {
      const h = Number(m[2]);
      jobs.push({ file: f, modelDir: join(dir, 'models', m[1]!), size: [h, m[3] ? Number(m[3]) : h] });
    }
  }
  // Photo fixtures: hf-photos is hf-tiny at 224; deit-tiny-photos needs the real DeiT-tiny weights.
  if (existsSync(join(dir, 'hf-photos.safetensors')) && models.includes('hf-tiny')) {
    jobs.push({ file: 'hf-photos.safetensors', modelDir: join(dir, 'models', 'hf-tiny'), size: [224, 224] });
  }
  const deit = [join(ROOT, '..', 'shared', 'models', 'deit-tiny-patch16-224'), join(ROOT, '.ref', 'deit-tiny-patch16-224')].find((p) => existsSync(p));
  if (deit && existsSync(join(dir, 'deit-tiny-photos.safetensors'))) jobs.push({ file: 'deit-tiny-photos.safetensors', modelDir: deit, size: [224, 224] });

  for (const j of jobs) {
    try {
      const model = await loadModel(j.modelDir, { imageSize: j.size });
      const fx = await readSafetensors(join(dir, j.file));
      const px = fx.tensors.pixel_values!;
      const ref = fx.tensors.logits!.data;
      const s = await createWebGPUSession(model, { dawnBackend: BACKEND });
      const got = await s.run(px.data, px.shape[0]!);
      await s.dispose();
      const cmp = compare(got, ref);
      const close = allClose(got, ref);
      // The float64 CPU forward on the same model says whether a miss is ours or the fixture's.
      const cpu = model.config.hiddenSize <= 256 ? compare(forward64(model, px.data, px.shape[0]!), ref).maxAbs : undefined;
      out.push({ fixture: j.file, model: j.modelDir, size: j.size, ...cmp, ...close, cpuFloat64VsFixture: cpu });
      log(`${close.ok ? 'ok  ' : 'FAIL'} fixture ${j.file}: max|d| ${fmt(cmp.maxAbs)} (worst ${close.worst.toFixed(3)} of the 1e-4 allowance); CPU float64 forward vs fixture ${cpu === undefined ? '-' : fmt(cpu)}`);
    } catch (e) {
      out.push({ fixture: j.file, error: String(e) });
      log(`FAIL fixture ${j.file}: ${e}`);
    }
  }
  return out;
}

async function randomTiny() {
  const out: unknown[] = [];
  const cases = [
    { D: 96, layers: 2, heads: 4, mlp: 192, classes: 10, P: 16, size: [224, 224] as [number, number], batch: 3 },
    { D: 64, layers: 2, heads: 2, mlp: 160, classes: 0, P: 8, size: [48, 72] as [number, number], batch: 5, act: 'gelu_tanh' as const, eps: 1e-12 },
    { D: 192, layers: 1, heads: 3, mlp: 768, classes: 1001, P: 14, size: [112, 140] as [number, number], batch: 2 },
  ];
  for (const c of cases) {
    const name = `random D${c.D} P${c.P} ${c.size.join('x')} classes ${c.classes} batch ${c.batch}`;
    try {
      const model = syntheticModel(c);
      const px = randomArray(c.batch * 3 * c.size[0] * c.size[1], 77, 1);
      const ref = forward64(model, px, c.batch);
      const s = await createWebGPUSession(model, { dawnBackend: BACKEND });
      const got = await s.run(px, c.batch);
      // Same batch again through a second plan split (batch 1 then the rest) must agree.
      const one = await s.run(px.subarray(0, 3 * c.size[0] * c.size[1]), 1);
      await s.dispose();
      const cmp = compare(got, ref);
      const close = allClose(got, ref);
      const w = got.length / c.batch;
      const firstSame = compare(one, got.subarray(0, w));
      out.push({ name, ...cmp, ...close, batch1VsBatched: firstSame.maxAbs });
      log(`${close.ok ? 'ok  ' : 'FAIL'} ${name}: max|d| ${fmt(cmp.maxAbs)} rel ${fmt(cmp.rel)}; batch-1 vs batched ${fmt(firstSame.maxAbs)}`);
    } catch (e) {
      out.push({ name, error: String(e) });
      log(`FAIL ${name}: ${e}`);
    }
  }
  return out;
}

async function vitBase(size: number): Promise<ViTModel> {
  try {
    const { randomModel } = await import('../loaders/random.js');
    let m = randomModel('vit-base-patch16-224');
    if (size !== 224) {
      const { withImageSize } = await import('../loaders/checkpoint.js');
      m = withImageSize(m, [size, size]);
    }
    return m;
  } catch (e) {
    log(`loaders/random.js unavailable (${e}); using a synthetic ViT-B/16`);
    return syntheticModel({ D: 768, layers: 12, heads: 12, mlp: 3072, classes: 1000, P: 16, size: [size, size] });
  }
}

async function throughput() {
  const out: unknown[] = [];
  const runs: { size: number; batches: number[] }[] = [
    { size: 224, batches: [1, 16, 64, 128, 256] },
    { size: 384, batches: [64] },
  ];
  for (const r of runs) {
    const model = await vitBase(r.size);
    const s = await createWebGPUSession(model, { dawnBackend: BACKEND });
    try {
      for (const batch of r.batches) {
        if (Date.now() - t0 > BUDGET_MS - 30_000) {
          out.push({ size: r.size, batch, skipped: 'time budget' });
          continue;
        }
        const px = randomArray(batch * 3 * r.size * r.size, 1234 + batch, 1);
        await s.run(px, batch);
        await s.run(px, batch);
        const dev: number[] = [];
        const host: { upload: number; submit: number; wait: number }[] = [];
        let images = 0;
        let w0 = performance.now();
        while (performance.now() - w0 < 2000 || dev.length < 3) {
          await s.run(px, batch);
          images += batch;
          dev.push(s.lastDeviceMs?.() ?? NaN);
          const h = (s as unknown as { lastHostMs?: { upload: number; submit: number; wait: number } }).lastHostMs;
          if (h) host.push(h);
        }
        const hostMs = {
          upload: median(host.map((h) => h.upload)),
          submit: median(host.map((h) => h.submit)),
          wait: median(host.map((h) => h.wait)),
        };
        const ips = images / ((performance.now() - w0) / 1000);
        // Two callers at once: one run's upload and read-back overlap the other's compute.
        let images2 = 0;
        w0 = performance.now();
        const loop = async () => {
          while (performance.now() - w0 < 2000) {
            await s.run(px, batch);
            images2 += batch;
          }
        };
        await Promise.all([loop(), loop()]);
        const ips2 = images2 / ((performance.now() - w0) / 1000);
        const dms = median(dev);
        const gflop = (2 * flopsPerImageMAC(model)) / 1e9;
        const tflops = (gflop * batch) / dms; // GFLOP per ms = TFLOP/s
        out.push({ size: r.size, batch, imagesPerSecond: ips, imagesPerSecond2InFlight: ips2, deviceMsMedian: dms, deviceImagesPerSecond: (batch / dms) * 1000, effectiveTflops: tflops, hostMsMedian: hostMs, runs: dev.length });
        log(`ViT-B/16 ${r.size} batch ${batch}: ${ips.toFixed(1)} img/s wall (${ips2.toFixed(1)} with 2 in flight), device ${dms.toFixed(2)} ms/batch (${((batch / dms) * 1000).toFixed(1)} img/s, ${tflops.toFixed(1)} TFLOP/s); host ms: upload ${hostMs.upload.toFixed(2)} submit ${hostMs.submit.toFixed(2)} wait ${hostMs.wait.toFixed(2)}`);
      }
    } finally {
      await s.dispose();
    }
  }
  return out;
}

/**
 * ViT-B/16 at 224, batch 64 and 1, once per GEMM variant (VIT_WEBGPU_GEMM set around session
 * creation): device ms (median) and sequential wall img/s, and the logits of a fixed input compared
 * with the first variant's (summation order differs, so only float32 rounding should show).
 */
async function throughputPerVariant(names: string[]) {
  const out: unknown[] = [];
  const model = await vitBase(224);
  const gflop = (2 * flopsPerImageMAC(model)) / 1e9;
  const inputs = new Map<number, Float32Array>();
  const firstLogits = new Map<number, Float32Array>();
  const saved = process.env.VIT_WEBGPU_GEMM;
  for (const name of names) {
    if (Date.now() - t0 > BUDGET_MS - 30_000) {
      out.push({ variant: name, skipped: 'time budget' });
      continue;
    }
    process.env.VIT_WEBGPU_GEMM = name;
    let s: Awaited<ReturnType<typeof createWebGPUSession>> | undefined;
    try {
      s = await createWebGPUSession(model, { dawnBackend: BACKEND });
      for (const batch of [64, 1]) {
        let px = inputs.get(batch);
        if (!px) inputs.set(batch, (px = randomArray(batch * 3 * 224 * 224, 4321 + batch, 1)));
        const logits = await s.run(px, batch);
        const ref = firstLogits.get(batch);
        if (!ref) firstLogits.set(batch, logits);
        const vsFirst = ref ? compare(logits, ref) : undefined;
        await s.run(px, batch);
        const dev: number[] = [];
        let images = 0;
        const w0 = performance.now();
        while (performance.now() - w0 < (batch > 1 ? 1500 : 1000) || dev.length < 5) {
          await s.run(px, batch);
          images += batch;
          dev.push(s.lastDeviceMs?.() ?? NaN);
        }
        const ips = images / ((performance.now() - w0) / 1000);
        const dms = median(dev);
        out.push({ variant: name, size: 224, batch, imagesPerSecond: ips, deviceMsMedian: dms, deviceImagesPerSecond: (batch / dms) * 1000, effectiveTflops: (gflop * batch) / dms, runs: dev.length, logitsVsFirstVariant: vsFirst });
        log(`variant ${name.padEnd(7)} b${String(batch).padEnd(3)}: device ${dms.toFixed(2)} ms (${((batch / dms) * 1000).toFixed(1)} img/s, ${((gflop * batch) / dms).toFixed(1)} TFLOP/s), wall ${ips.toFixed(1)} img/s; logits vs ${names[0]}: ${vsFirst ? `max|d| ${fmt(vsFirst.maxAbs)} rel ${fmt(vsFirst.rel)}${vsFirst.nan ? ` nan ${vsFirst.nan}` : ''}` : '-'}`);
      }
    } catch (e) {
      out.push({ variant: name, error: String(e) });
      log(`FAIL variant ${name}: ${e}`);
    } finally {
      await s?.dispose();
      if (saved === undefined) delete process.env.VIT_WEBGPU_GEMM;
      else process.env.VIT_WEBGPU_GEMM = saved;
    }
  }
  return out;
}

/** Multiply-accumulates per image (GEMMs + attention), for TFLOP/s figures. */
function flopsPerImageMAC(model: ViTModel): number {
  const c = model.config;
  const np = Math.floor(c.imageSize[0] / c.patchSize) * Math.floor(c.imageSize[1] / c.patchSize);
  const N = np + 1;
  const D = c.hiddenSize;
  const perLayer = N * D * 3 * D + N * D * D + 2 * N * D * c.mlpDim + 2 * N * N * D;
  return np * D * c.numChannels * c.patchSize ** 2 + c.numLayers * perLayer + D * c.numClasses;
}

// ---------------------------------------------------------------- main
async function section<T>(name: string, only: Set<string> | undefined, fn: () => Promise<T>): Promise<void> {
  if (only && !only.has(name)) return;
  if (Date.now() - t0 > BUDGET_MS) {
    report[name] = { skipped: 'time budget' };
    summary.push(`${name.padEnd(11)} skipped (time budget)`);
    return;
  }
  log(`== ${name}`);
  const s0 = Date.now();
  try {
    report[name] = await fn();
    summary.push(`${name.padEnd(11)} done in ${((Date.now() - s0) / 1000).toFixed(1)} s`);
  } catch (e) {
    report[name] = { error: String((e as Error)?.stack ?? e) };
    summary.push(`${name.padEnd(11)} ERROR ${String(e).split('\n')[0]}`);
    log(`section ${name} failed: ${(e as Error)?.stack ?? e}`);
  }
}

async function main() {
  const { out, only } = ARGS;
  mkdirSync(out, { recursive: true });
  report.flags = { robust: process.env.VIT_WEBGPU_ROBUST === '1' };
  await section('adapter', only, async () => {
    const a = await describeAdapter(BACKEND);
    if (!a) throw new Error('no WebGPU adapter: needs a GPU with Vulkan (libvulkan1) and its driver');
    log(JSON.stringify(a, null, 1));
    return a;
  });
  let ctx: GpuContext | undefined;
  const needCtx = !only || ['kernels', 'gemm-speed', 'attn-speed'].some((s) => only.has(s));
  if (needCtx) {
    try {
      ctx = await createGpuContext({ backend: BACKEND });
    } catch (e) {
      log(`no device: ${e}`);
      report.device = { error: String(e) };
    }
  }
  if (ctx) {
    const c = ctx;
    await section('kernels', only, async () => {
      const results: unknown[] = [];
      const which = ARGS.kernels;
      if (!which || which.has('gemm')) await gemmCorrectness(c, results);
      if (!which || which.has('layernorm')) await layerNormCorrectness(c, results);
      if (!which || which.has('attention')) await attentionCorrectness(c, results);
      const failed = results.filter((r) => !(r as { ok?: boolean }).ok).length;
      summary.push(`kernels     ${results.length - failed}/${results.length} ok`);
      return results;
    });
    await section('gemm-speed', only, () => gemmSpeed(c));
    await section('attn-speed', only, () => attentionSpeed(c));
    c.destroy();
  }
  await section('fixtures', only, fixtures);
  await section('random', only, randomTiny);
  await section('throughput', only, async () => {
    const runs = await throughput();
    return ARGS.gemmVariants.length ? { runs, perGemmVariant: await throughputPerVariant(ARGS.gemmVariants) } : runs;
  });

  report.seconds = (Date.now() - t0) / 1000;
  writeFileSync(join(out, 'webgpu-check.json'), JSON.stringify(report, null, 1));
  // Short table last.
  console.log('\n==== summary ====');
  for (const s of summary) console.log(s);
  const gs = report['gemm-speed'];
  if (Array.isArray(gs)) {
    console.log('GEMM TFLOP/s per variant (layer@M; mean = total FLOP / total time of the four):');
    for (const line of gemmTable(gs as GemmTiming[])) console.log(`  ${line}`);
  }
  const tpAll = report.throughput as { runs?: unknown[]; perGemmVariant?: unknown[] } | unknown[] | undefined;
  const tp = Array.isArray(tpAll) ? tpAll : tpAll?.runs;
  const perVariant = Array.isArray(tpAll) ? undefined : tpAll?.perGemmVariant;
  if (Array.isArray(perVariant)) {
    console.log('ViT-B/16 224 per GEMM variant   batch   device ms   device img/s   wall img/s   logits max|d| vs first');
    for (const t of perVariant as { variant: string; batch?: number; deviceMsMedian?: number; deviceImagesPerSecond?: number; imagesPerSecond?: number; logitsVsFirstVariant?: { maxAbs: number }; error?: string }[]) {
      if (t.error || t.batch === undefined) console.log(`  ${t.variant.padEnd(29)} ${t.error ? `ERROR ${t.error.split('\n')[0]}` : 'skipped'}`);
      else console.log(`  ${t.variant.padEnd(29)} ${String(t.batch).padStart(5)} ${t.deviceMsMedian!.toFixed(2).padStart(11)} ${t.deviceImagesPerSecond!.toFixed(1).padStart(14)} ${t.imagesPerSecond!.toFixed(1).padStart(12)}   ${t.logitsVsFirstVariant ? fmt(t.logitsVsFirstVariant.maxAbs) : '-'}`);
    }
  }
  if (Array.isArray(tp)) {
    console.log('ViT-B/16 random      img/s wall   2 in flight   device ms/batch   device img/s   TFLOP/s');
    for (const t of tp as { size: number; batch: number; imagesPerSecond?: number; imagesPerSecond2InFlight?: number; deviceMsMedian?: number; effectiveTflops?: number }[]) {
      if (t.imagesPerSecond) {
        const d = t.deviceMsMedian ?? NaN;
        console.log(`  @${t.size} b${String(t.batch).padEnd(4)} ${t.imagesPerSecond.toFixed(1).padStart(14)} ${t.imagesPerSecond2InFlight?.toFixed(1).padStart(13)} ${d.toFixed(2).padStart(17)} ${((t.batch / d) * 1000).toFixed(1).padStart(14)} ${t.effectiveTflops?.toFixed(1).padStart(9)}`);
      }
    }
  }
  const fx = report.fixtures;
  if (Array.isArray(fx)) {
    const ok = fx.filter((f) => (f as { ok?: boolean }).ok).length;
    console.log(`fixtures    ${ok}/${fx.length} within atol=rtol=1e-4`);
  }
  console.log(`wrote ${join(out, 'webgpu-check.json')} in ${report.seconds} s`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
