/**
 * Device check for the webgpu fp16 paths (scripts/webgpu-f16-check.sh runs it on the GPU machine).
 *
 *   node dist/bench/webgpu-f16-check.js <section> --out FILE.json
 *
 * Sections:
 *   adapter  features, subgroup sizes and subgroup-matrix configs with the f16 toggle; the path an fp16 session takes.
 *   gemm     every subgroup-matrix tile, the SIMT f16 GEMM and the fp32 GEMM on the ViT-B/16 layer shapes at batch
 *            256, 64 and 1: sampled rows (first, last, random) against float64 on the same f16 inputs, then device
 *            time per dispatch (timestamp queries) and TFLOP/s.
 *   model    ViT-B/16 224 (random weights) end to end per subgroup-matrix tile (f16Tile), auto, SIMT f16 and fp32,
 *            batches 64 and 256: device ms per batch and img/s from it.
 *   profile  where the device time goes: every dispatch of ViT-B/16 (fp16 and fp32; 224 at batch 256, 64, 1 and 384
 *            at batch 64) timed on its own, summed per kind of dispatch.
 *   attention the fused attention kernel alone per (BQ, BKV), f16 and f32 I/O, at 224 batch 256 and 384 batch 64.
 *   summary  --dir DIR: one table from DIR/gemm.json, DIR/model.json and DIR/bench.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGpuContext, describeAdapter, type GpuContext } from '../engine/webgpu/device.js';
import { f16Bits, f16Value } from '../engine/webgpu/f16.js';
import { gemmKernel, type GemmEpilogue, type StorageType } from '../engine/webgpu/kernels/gemm.js';
import { sgmatKernel } from '../engine/webgpu/kernels/gemm-sgmat.js';
import { chooseGemmTile, SGMAT_TILES, sgmatLimits, sgmatUsable } from '../engine/webgpu/kernels/index.js';
import { attentionKernel } from '../engine/webgpu/kernels/attention.js';
import { attentionSgmatKernel } from '../engine/webgpu/kernels/attention-sgmat.js';
import { createWebGPUSession, profilePlan, type WebGPUSessionOptions } from '../engine/webgpu/session.js';
import { openModel } from '../loaders/index.js';
import { gelu64, type Act } from '../model/reference.js';

const args = process.argv.slice(2);
const section = args[0] ?? '';
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const log = (s: string) => console.error(s);

/** cuBLAS fp16 (tensor cores) on the H100 measured with the same shapes (shared/gpu/README.md). */
const CUBLAS_FP16_TFLOPS = 750;

interface GemmShape {
  name: string;
  M: number;
  K: number;
  N: number;
  epi: GemmEpilogue;
  /** Output type on the fp16 path (the residual GEMMs add into the f32 stream). */
  out: StorageType;
}

/** ViT-B/16 224 layer shapes at batches 256, 64 and 1; `small` (--shapes small): a quarter-width model at
 * batches 2 and 1, for a run on a CPU adapter. */
function vitShapes(small = false): GemmShape[] {
  const shapes: GemmShape[] = [];
  const D = small ? 192 : 768;
  for (const b of small ? [2, 1] : [256, 64, 1]) {
    const M = 197 * b;
    shapes.push(
      { name: `qkv b${b}`, M, K: D, N: 3 * D, epi: 'bias', out: 'f16' },
      { name: `proj b${b}`, M, K: D, N: D, epi: 'bias-residual', out: 'f32' },
      { name: `fc1 b${b}`, M, K: D, N: 4 * D, epi: 'bias-gelu', out: 'f16' },
      { name: `fc2 b${b}`, M, K: 4 * D, N: D, epi: 'bias-residual', out: 'f32' },
    );
  }
  return shapes;
}

/** Every f16 bit pattern's value. */
const F16 = Float64Array.from({ length: 65536 }, (_, h) => f16Value(h));

/** Pseudo-random f16 operands from a 4096-value table (uniform in [-scale, scale], exactly f16). */
function operand(n: number, seed: number, scale: number): { bits: Uint16Array; value: (i: number) => number; f32: () => Float32Array } {
  const table = new Uint16Array(4096);
  let s = seed >>> 0 || 1;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
  for (let i = 0; i < table.length; i++) table[i] = f16Bits(((next() / 2 ** 32) * 2 - 1) * scale);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = table[next() >>> 20]!;
  const f32 = () => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = F16[bits[i]!]!;
    return out;
  };
  return { bits, value: (i: number) => F16[bits[i]!]!, f32 };
}

interface GemmRow {
  shape: string;
  M: number;
  K: number;
  N: number;
  kernel: string;
  ok: boolean;
  maxErr?: number;
  ms?: number;
  tflops?: number;
  error?: string;
}

async function timeDispatches(ctx: GpuContext, pipeline: GPUComputePipeline, bg: GPUBindGroup, grid: [number, number] | [number, number, number], reps: number): Promise<number> {
  const dev = ctx.device;
  const run = async (n: number, q?: { set: GPUQuerySet; res: GPUBuffer; read: GPUBuffer }) => {
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass(q ? { timestampWrites: { querySet: q.set, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(grid[0], grid[1], grid[2] ?? 1);
    pass.end();
    if (q) {
      enc.resolveQuerySet(q.set, 0, 2, q.res, 0);
      enc.copyBufferToBuffer(q.res, 0, q.read, 0, 16);
    }
    dev.queue.submit([enc.finish()]);
    await dev.queue.onSubmittedWorkDone();
  };
  await run(2);
  if (ctx.hasTimestamps) {
    const q = {
      set: dev.createQuerySet({ type: 'timestamp', count: 2 }),
      res: ctx.buffer(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC),
      read: ctx.buffer(16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
    };
    await run(reps, q);
    await q.read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(q.read.getMappedRange().slice(0));
    q.read.unmap();
    q.set.destroy();
    q.res.destroy();
    q.read.destroy();
    if (t[1]! > t[0]!) return Number(t[1]! - t[0]!) / 1e6 / reps;
  }
  const t0 = performance.now();
  await run(reps);
  return (performance.now() - t0) / reps;
}

/** Rows so far, written after each one: a step stopped by its time limit keeps what it measured. */
const save = (rows: unknown[]) => {
  const out = opt('--out');
  if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
};

async function gemmSection(): Promise<GemmRow[]> {
  const ctx = await createGpuContext({ f16: true });
  const rows: GemmRow[] = [];
  const U = GPUBufferUsage;
  const SG = ctx.subgroupSize ?? 32;
  const lim = sgmatLimits(ctx, SG);
  const limit = ctx.device.limits.maxComputeWorkgroupStorageSize;
  log(`gemm: f16 ${ctx.hasF16}, f16 subgroup matrices ${ctx.hasF16Matrix}, subgroup ${SG}`);
  for (const s of vitShapes(opt('--shapes') === 'small')) {
    const { M, K, N } = s;
    const NP = Math.ceil(N / 4) * 4;
    const A = operand(M * K, 0x9e3779b9 ^ M ^ K, 1);
    const Bt = operand(K * NP, 0x85ebca6b ^ N, 1 / Math.sqrt(K)); // [K, NP]; padding columns are never read into C
    const bias = Float32Array.from({ length: NP }, (_, i) => Math.sin(i) * 0.5);
    const act: Act = s.epi === 'bias-gelu' ? 'gelu' : 'none';
    // Sampled rows: the first and last 16, and 32 spread between (first and last tiles, and the middle).
    const sample = [...new Set([...Array.from({ length: 16 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => M - 1 - i), ...Array.from({ length: 32 }, (_, i) => Math.floor(((i + 0.5) * M) / 32))])].filter((r) => r >= 0 && r < M);
    const ref = new Float64Array(sample.length * N);
    const arows = new Float64Array(sample.length * K);
    sample.forEach((m, r) => {
      for (let k = 0; k < K; k++) arows[r * K + k] = A.value(m * K + k);
    });
    const bcol = new Float64Array(K);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) bcol[k] = Bt.value(k * NP + n);
      for (let r = 0; r < sample.length; r++) {
        let acc = bias[n]!;
        for (let k = 0; k < K; k++) acc += arows[r * K + k]! * bcol[k]!;
        ref[r * N + n] = gelu64(acc, act);
      }
    }
    const a16 = ctx.upload(A.bits, 'A f16');
    const b16 = ctx.upload(Bt.bits, 'B f16');
    const a32 = ctx.upload(A.f32(), 'A f32');
    const b32 = ctx.upload(Bt.f32(), 'B f32');
    const biasBuf = ctx.upload(bias, 'bias');
    const params = ctx.buffer(16, U.UNIFORM | U.COPY_DST, 'params');
    ctx.device.queue.writeBuffer(params, 0, new Uint32Array([M, 0, 0, 0]));

    const kernels: { name: string; make: () => { code: string; grid(M: number): [number, number] }; f16: boolean; out: StorageType }[] = [];
    if (ctx.hasF16Matrix) {
      for (const name of Object.keys(SGMAT_TILES)) {
        if (sgmatUsable(name, lim)) kernels.push({ name: `sgmat ${name}`, make: () => sgmatKernel({ ...SGMAT_TILES[name]!, K, N, epilogue: s.epi, output: s.out, SG }), f16: true, out: s.out });
      }
    }
    const simtTile = chooseGemmTile(M, K, N, limit);
    if (ctx.hasF16) kernels.push({ name: 'simt-f16', make: () => gemmKernel({ K, N, epilogue: s.epi, ...simtTile, input: 'f16', output: s.out }), f16: true, out: s.out });
    kernels.push({ name: 'fp32', make: () => gemmKernel({ K, N, epilogue: s.epi, ...simtTile }), f16: false, out: 'f32' });

    for (const k of kernels) {
      const row: GemmRow = { shape: s.name, M, K, N, kernel: k.name, ok: false };
      const outBytes = M * N * (k.out === 'f16' ? 2 : 4);
      const C = ctx.buffer(outBytes, U.STORAGE | U.COPY_SRC, 'C'); // zeroed: the residual epilogue adds to 0
      const read = ctx.buffer(outBytes, U.MAP_READ | U.COPY_DST, 'readback');
      try {
        const gen = k.make();
        const pipeline = await ctx.pipeline(gen.code, `${s.name} ${k.name}`);
        const entries = [k.f16 ? a16 : a32, k.f16 ? b16 : b32, biasBuf, C, params].map((buffer, binding) => ({ binding, resource: { buffer } }));
        const bg = ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
        const grid = gen.grid(M);
        await ctx.scoped(`${s.name} ${k.name}`, async () => {
          const enc = ctx.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bg);
          pass.dispatchWorkgroups(grid[0], grid[1]);
          pass.end();
          enc.copyBufferToBuffer(C, 0, read, 0, outBytes);
          ctx.device.queue.submit([enc.finish()]);
          await read.mapAsync(GPUMapMode.READ);
        });
        const raw = read.getMappedRange(0, outBytes);
        const h = k.out === 'f16' ? new Uint16Array(raw, 0, M * N) : undefined;
        const f = k.out === 'f32' ? new Float32Array(raw, 0, M * N) : undefined;
        // f16 output: one f16 rounding (2^-11 relative) on top of f32 accumulation; f32 output: accumulation only.
        const [atol, rtol] = k.out === 'f16' ? [1e-4, 1e-3] : [2e-5, 1e-5];
        let worst = 0;
        sample.forEach((m, r) => {
          for (let n = 0; n < N; n++) {
            const got = h ? f16Value(h[m * N + n]!) : f![m * N + n]!;
            const want = ref[r * N + n]!;
            const e = Math.abs(got - want) / (atol + rtol * Math.abs(want));
            worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
          }
        });
        read.unmap();
        row.maxErr = worst;
        row.ok = worst <= 1;
        const reps = Math.max(3, Math.min(50, Math.round(2e11 / (2 * M * N * K) + 2)));
        row.ms = await timeDispatches(ctx, pipeline, bg, grid, reps);
        row.tflops = (2 * M * N * K) / (row.ms * 1e9);
      } catch (e) {
        row.error = (e as Error).message.split('\n')[0];
      } finally {
        C.destroy();
        read.destroy();
      }
      rows.push(row);
      save(rows);
      log(`gemm ${s.name.padEnd(9)} ${k.name.padEnd(18)} ${row.error ? `ERROR ${row.error}` : `${row.ok ? 'ok  ' : 'FAIL'} err ${row.maxErr!.toFixed(3)}x bar  ${row.ms!.toFixed(3)} ms  ${row.tflops!.toFixed(1)} TFLOP/s`}`);
    }
    for (const b of [a16, b16, a32, b32, biasBuf, params]) b.destroy();
  }
  ctx.destroy();
  return rows;
}

interface ModelRow {
  variant: string;
  imageSize: number;
  batch: number;
  describe?: string;
  deviceMs?: number;
  imgPerSec?: number;
  error?: string;
}

/** Device ms (median of 5 after 3 warm-up runs) of one batch through a session. */
async function timeBatches(s: Awaited<ReturnType<typeof createWebGPUSession>>, x: Float32Array, batch: number): Promise<number | undefined> {
  for (let w = 0; w < 3; w++) await s.run(x, batch); // compile, first-run checks, clocks up
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    await s.run(x, batch);
    const d = s.lastDeviceMs?.();
    if (d !== undefined) ms.push(d);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

/** ViT-B/16 end to end per variant: 224 at batches 64 and 256; the attention variants at 384 (batch 64) too. */
async function modelSection(): Promise<ModelRow[]> {
  const ctx = await createGpuContext({ f16: true });
  const lim = sgmatLimits(ctx, ctx.subgroupSize ?? 32);
  const variants: [string, WebGPUSessionOptions, number[]][] = [
    ['fp32', {}, [224]],
    ['fp16 auto', { precision: 'fp16' }, [224, 384]],
    ['fp16 simt', { precision: 'fp16', f16Path: 'simt' }, [224]],
    ['fp16 simt-attention', { precision: 'fp16', f16Attention: 'simt' }, [224, 384]],
  ];
  if (ctx.hasF16Matrix) {
    for (const t of ['128x128x32', '128x256x32 s1', '256x128x32 s1']) if (sgmatUsable(t, lim)) variants.push([`fp16 tile ${t}`, { precision: 'fp16', f16Path: 'subgroup-matrix', f16Tile: t }, [224]]);
    for (const [form, W, CH] of [['online', 8, 32], ['online', 8, 16], ['online', 4, 64], ['online', 4, 32], ['two-pass', 8, 32]] as const) {
      variants.push([`fp16 attention ${form} w${W} ch${CH}`, { precision: 'fp16', f16AttentionConfig: { W, CH, form } }, [224, 384]]);
    }
  }
  ctx.destroy();
  const rows: ModelRow[] = [];
  const px = new Float32Array(256 * 3 * 224 * 224).map((_, i) => Math.sin(i * 0.37) * 2);
  for (const imageSize of [224, 384]) {
    const model = await openModel('random:vit-base-patch16-224', { imageSize: [imageSize, imageSize] });
    for (const [variant, o, sizes] of variants) {
      if (!sizes.includes(imageSize)) continue;
      let s;
      try {
        s = await createWebGPUSession(model, o);
      } catch (e) {
        rows.push({ variant, imageSize, batch: 0, error: (e as Error).message.split('\n')[0] });
        log(`model ${variant} ${imageSize}: ERROR ${rows.at(-1)!.error}`);
        continue;
      }
      try {
        for (const batch of imageSize === 224 ? [64, 256] : [64]) {
          const row: ModelRow = { variant, imageSize, batch, describe: s.describe?.() };
          try {
            row.deviceMs = await timeBatches(s, px.subarray(0, batch * 3 * imageSize * imageSize), batch);
            if (row.deviceMs) row.imgPerSec = (batch * 1000) / row.deviceMs;
          } catch (e) {
            row.error = (e as Error).message.split('\n')[0];
          }
          rows.push(row);
          save(rows);
          log(`model ${variant.padEnd(22)} ${imageSize} b${batch}: ${row.error ? `ERROR ${row.error}` : `${row.deviceMs?.toFixed(2)} ms device, ${row.imgPerSec?.toFixed(0)} img/s (${row.describe})`}`);
        }
      } finally {
        await s.dispose();
      }
    }
  }
  return rows;
}

interface ProfileRow {
  variant: string;
  batch: number;
  imageSize: number;
  describe?: string;
  totalMs?: number;
  /** Device ms per kind of dispatch (the block index dropped from the label), largest first. */
  kinds?: { kind: string; ms: number; share: number }[];
  error?: string;
}

/** Where the device time goes: every dispatch of the plan timed on its own (Plan.profile), summed per kind. */
async function profileSection(): Promise<ProfileRow[]> {
  const rows: ProfileRow[] = [];
  for (const imageSize of [224, 384]) {
    const model = await openModel('random:vit-base-patch16-224', { imageSize: [imageSize, imageSize] });
    const per = 3 * imageSize * imageSize;
    for (const [variant, o] of [['fp16', { precision: 'fp16' }], ['fp16 simt-attention', { precision: 'fp16', f16Attention: 'simt' }], ['fp32', {}]] as [string, WebGPUSessionOptions][]) {
      const s = await createWebGPUSession(model, o);
      try {
        for (const batch of imageSize === 224 ? [256, 64, 1] : [64]) {
          const row: ProfileRow = { variant, batch, imageSize, describe: s.describe?.() };
          try {
            const px = new Float32Array(batch * per).map((_, i) => Math.sin(i * 0.37) * 2);
            const d = await profilePlan(s, px, batch);
            const byKind = new Map<string, number>();
            for (const { label, ms } of d) {
              const kind = label.replace(/^block \d+ /, '');
              byKind.set(kind, (byKind.get(kind) ?? 0) + ms);
            }
            row.totalMs = d.reduce((a, x) => a + x.ms, 0);
            row.kinds = [...byKind].map(([kind, ms]) => ({ kind, ms, share: ms / row.totalMs! })).sort((a, b) => b.ms - a.ms);
          } catch (e) {
            row.error = (e as Error).message.split('\n')[0];
          }
          rows.push(row);
          save(rows);
          log(`profile ${variant} ${imageSize}px b${batch}: ${row.error ?? `${row.totalMs!.toFixed(2)} ms = ${row.kinds!.map((k) => `${k.kind} ${k.ms.toFixed(2)}`).join(', ')}`}`);
        }
      } finally {
        await s.dispose();
      }
    }
  }
  return rows;
}

interface AttentionRow {
  kernel?: string;
  maxErr?: number;
  io: string;
  N: number;
  batch: number;
  BQ: number;
  BKV: number;
  ms?: number;
  tflops?: number;
  error?: string;
}

/** The fused attention kernel alone at ViT-B/16 shapes, batch 256 (224) and 64 (384), per (BQ, BKV). */
async function attentionSection(): Promise<AttentionRow[]> {
  const ctx = await createGpuContext({ f16: true });
  const rows: AttentionRow[] = [];
  const D = 768, H = 12;
  for (const [N, batch] of [[197, 256], [577, 64]] as const) {
    for (const io of ctx.hasF16 ? (['f16', 'f32'] as const) : (['f32'] as const)) {
      const bytes = batch * N * 3 * D * (io === 'f16' ? 2 : 4);
      const qkv = ctx.buffer(bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'qkv');
      const init = new Uint8Array(bytes);
      if (io === 'f16') {
        const h = new Uint16Array(init.buffer);
        for (let i = 0; i < h.length; i++) h[i] = f16Bits(Math.sin(i * 0.7311) * 2);
      } else {
        const f = new Float32Array(init.buffer);
        for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.7311) * 2;
      }
      ctx.device.queue.writeBuffer(qkv, 0, init);
      const out = ctx.buffer(batch * N * D * (io === 'f16' ? 2 : 4), GPUBufferUsage.STORAGE, 'out');
      const outBytes = batch * N * D * (io === 'f16' ? 2 : 4);
      const read = ctx.buffer(outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
      /** The output of the last timed kernel (f16 or f32 values). */
      const readOut = async (): Promise<Float32Array> => {
        const enc = ctx.device.createCommandEncoder();
        enc.copyBufferToBuffer(out, 0, read, 0, outBytes);
        ctx.device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const raw = read.getMappedRange().slice(0);
        read.unmap();
        return io === 'f16' ? Float32Array.from(new Uint16Array(raw), (h) => f16Value(h)) : new Float32Array(raw);
      };
      const variants: { name: string; BQ: number; BKV: number; code: () => { code: string; grid(b: number): [number, number, number] } }[] = [];
      for (const BQ of [32, 64, 128]) for (const BKV of [8, 16, 32]) variants.push({ name: `simt BQ ${BQ} BKV ${BKV}`, BQ, BKV, code: () => attentionKernel(N, D, H, { BQ, BKV, io }) });
      if (io === 'f16' && ctx.hasF16Matrix) {
        for (const form of ['online', 'two-pass'] as const) {
          for (const W of [1, 2, 4, 8]) for (const CH of [16, 32, 64]) variants.push({ name: `sgmat ${form} W ${W} CH ${CH}`, BQ: W * 16, BKV: CH, code: () => attentionSgmatKernel(N, D, H, { W, CH, SG: ctx.subgroupSize ?? 32, form }) });
        }
      }
      let ref: Float32Array | undefined;
      for (const v of variants) {
        const row: AttentionRow = { io, N, batch, BQ: v.BQ, BKV: v.BKV, kernel: v.name };
        try {
          const k = v.code();
          const pipeline = await ctx.pipeline(k.code, `attention ${io} ${v.name}`);
          const bg = ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [qkv, out].map((buffer, binding) => ({ binding, resource: { buffer } })) });
          row.ms = await timeDispatches(ctx, pipeline, bg, k.grid(batch), 5);
          row.tflops = (4 * batch * H * N * N * (D / H)) / (row.ms * 1e9);
          const got = await readOut();
          ref ??= got; // the first SIMT variant is the reference for the rest
          let worst = 0;
          for (let i = 0; i < got.length; i += 7) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / (4e-3 + 4e-3 * Math.abs(ref[i]!)));
          row.maxErr = worst;
        } catch (e) {
          row.error = (e as Error).message.split('\n')[0];
        }
        rows.push(row);
        save(rows);
        log(`attention ${io} N${N} b${batch} ${v.name.padEnd(20)}: ${row.error ?? `${row.ms!.toFixed(2)} ms, ${row.tflops!.toFixed(1)} TFLOP/s, vs first ${row.maxErr!.toFixed(3)}x bar`}`);
      }
      read.destroy();
      qkv.destroy();
      out.destroy();
    }
  }
  ctx.destroy();
  return rows;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function summary(dir: string): string {
  const lines: string[] = [];
  const gemm = readJson<GemmRow[]>(join(dir, 'gemm.json'));
  if (gemm) {
    lines.push(`GEMM (TFLOP/s; cuBLAS fp16 ~${CUBLAS_FP16_TFLOPS}; FAIL = outside the bar vs float64, ERR = did not run)`);
    const kernels = [...new Set(gemm.map((r) => r.kernel))];
    const shapes = [...new Set(gemm.map((r) => r.shape))];
    lines.push(['shape'.padEnd(10), ...kernels.map((k) => k.replace('sgmat ', '').padStart(11)), '  best'].join(''));
    for (const sh of shapes) {
      const rs = gemm.filter((r) => r.shape === sh);
      const cell = (k: string) => {
        const r = rs.find((x) => x.kernel === k);
        return (!r ? '-' : r.error ? 'ERR' : !r.ok ? 'FAIL' : r.tflops!.toFixed(1)).padStart(11);
      };
      const best = rs.filter((r) => r.ok && r.kernel.startsWith('sgmat')).sort((a, b) => b.tflops! - a.tflops!)[0];
      lines.push([sh.padEnd(10), ...kernels.map(cell), `  ${best ? `${best.kernel.replace('sgmat ', '')} (${((100 * best.tflops!) / CUBLAS_FP16_TFLOPS).toFixed(0)}% of cuBLAS)` : '-'}`].join(''));
    }
  } else lines.push('GEMM: no gemm.json');
  const model = readJson<ModelRow[]>(join(dir, 'model.json'));
  if (model) {
    lines.push('', 'ViT-B/16 224 end to end, device time (img/s)');
    for (const r of model) lines.push(`  ${r.variant.padEnd(24)} b${String(r.batch).padEnd(4)} ${r.error ? `ERROR ${r.error}` : `${r.deviceMs?.toFixed(2).padStart(8)} ms ${r.imgPerSec?.toFixed(0).padStart(6)} img/s`}`);
  }
  const bench = readJson<{ results: { backend: string; imageSize: number; batchSize: number; imagesPerSecond: number; deviceMs?: { p50: number }; device?: string }[] }>(join(dir, 'bench.json'));
  if (bench) {
    lines.push('', 'vit bench (wall img/s, 1 worker, 2 runs in flight; target fp16 >= 3x fp32)');
    for (const r of bench.results) lines.push(`  ${r.backend.padEnd(12)} ${r.imageSize}px b${String(r.batchSize).padEnd(4)} ${r.imagesPerSecond.toFixed(0).padStart(6)} img/s  device p50 ${r.deviceMs?.p50.toFixed(2) ?? '-'} ms`);
    const paths = [...new Set(bench.results.map((r) => r.device).filter(Boolean))];
    for (const p of paths) lines.push(`  path: ${p}`);
  } else lines.push('', 'vit bench: no bench.json');
  return lines.join('\n');
}

async function main() {
  const out = opt('--out');
  let result: unknown;
  if (section === 'adapter') {
    const plain = await describeAdapter();
    const f16 = await describeAdapter(undefined, true);
    const ctx = await createGpuContext({ f16: true });
    const s = { hasF16: ctx.hasF16, hasF16Matrix: ctx.hasF16Matrix, subgroupSize: ctx.subgroupSize, maxSubgroupSize: ctx.maxSubgroupSize };
    ctx.destroy();
    result = { withoutF16Toggle: plain && { features: plain.features, subgroupMatrixConfigs: plain.subgroupMatrixConfigs }, withF16Toggle: f16, context: s };
    const f = f16 as { description?: string; features?: string[]; subgroupSizes?: unknown; subgroupMatrixConfigs?: string[] } | undefined;
    log(`adapter: ${f?.description}\n  features: ${f?.features?.join(' ')}\n  subgroup sizes: ${JSON.stringify(f?.subgroupSizes)}\n  subgroup-matrix configs: ${f?.subgroupMatrixConfigs?.join(', ') || 'none'}\n  context: ${JSON.stringify(s)}`);
  } else if (section === 'gemm') result = await gemmSection();
  else if (section === 'model') result = await modelSection();
  else if (section === 'profile') result = await profileSection();
  else if (section === 'attention') result = await attentionSection();
  else if (section === 'summary') {
    console.log(summary(opt('--dir') ?? '.'));
    return;
  } else throw new Error('usage: webgpu-f16-check <adapter|gemm|model|profile|attention|summary> [--out FILE] [--dir DIR]');
  if (out) writeFileSync(out, JSON.stringify(result, null, 2));
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`webgpu-f16-check: ${e.stack ?? e.message}`);
    process.exit(1);
  },
);
