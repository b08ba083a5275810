/**
 * Subgroup-matrix self-checks (GEMM tiles and attention), run when an fp16 session is created on that path: Dawn enables f16 on
 * NVIDIA only behind a toggle (its conformance failures are unresolved), so each tile the session may use
 * multiplies one small odd-shaped problem and is compared with a float64 product of the same f16 inputs.
 */
import type { GpuContext } from './device.js';
import { f16Round, fromF16, toF16 } from './f16.js';
import type { AttentionSgmatShape } from './kernels/attention-sgmat.js';
import type { KernelCache } from './kernels/index.js';
import { transposePad } from './weights.js';

/** M, K, N of the check: partial tiles in M, N and K for every tile shape. */
const M = 200;
const K = 112;
const N = 136;

/** Largest |got - ref| / (1e-3 + 1e-3 |ref|) over the output; <= 1 passes. Throws on WebGPU errors. */
export async function checkSgmatTile(ctx: GpuContext, kernels: KernelCache, tile: string, SG: number): Promise<number> {
  const U = GPUBufferUsage;
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const a = Float32Array.from({ length: M * K }, () => f16Round(rnd()));
  const w = Float32Array.from({ length: N * K }, () => f16Round(rnd() / Math.sqrt(K)));
  const bias = Float32Array.from({ length: N }, () => rnd() * 0.5);
  const k = await kernels.gemmSgmat(K, N, 'bias', tile, 'f32', SG);
  const bufs = [ctx.upload(toF16(a), 'check A'), ctx.upload(toF16(transposePad(w, N, K)), 'check B'), ctx.upload(bias, 'check bias')];
  const out = ctx.upload(new Float32Array(M * N).fill(NaN), 'check C', U.COPY_SRC);
  const uniform = ctx.buffer(16, U.UNIFORM | U.COPY_DST, 'check uniform');
  const read = ctx.buffer(M * N * 4, U.MAP_READ | U.COPY_DST, 'check readback');
  try {
    const got = await ctx.scoped(`subgroup-matrix self-check ${tile}`, async () => {
      ctx.device.queue.writeBuffer(uniform, 0, new Uint32Array([M, 0, 0, 0]));
      const entries = [...bufs, out, uniform].map((buffer, binding) => ({ binding, resource: { buffer } }));
      const bg = ctx.device.createBindGroup({ layout: k.pipeline.getBindGroupLayout(0), entries });
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bg);
      const [gx, gy] = k.kernel.grid(M);
      pass.dispatchWorkgroups(gx, gy);
      pass.end();
      enc.copyBufferToBuffer(out, 0, read, 0, M * N * 4);
      ctx.device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const r = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      return r;
    });
    let worst = 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias[n]!;
        for (let q = 0; q < K; q++) s += a[m * K + q]! * w[n * K + q]!;
        const e = Math.abs(got[m * N + n]! - s) / (1e-3 + 1e-3 * Math.abs(s));
        worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
      }
    }
    return worst;
  } finally {
    for (const b of [...bufs, out, uniform, read]) b.destroy();
  }
}

/**
 * Subgroup-matrix attention self-check for the model's shape (N tokens, D, heads) on one image of random f16
 * q, k, v: compared with float64 attention of the same inputs. Returns the largest |got - ref| /
 * (4e-3 + 4e-3 |ref|) (P and the output are rounded to f16); <= 1 passes. Throws on WebGPU errors.
 */
export async function checkSgmatAttention(ctx: GpuContext, kernels: KernelCache, N: number, D: number, heads: number, o: AttentionSgmatShape): Promise<number> {
  const U = GPUBufferUsage;
  let seed = 4242;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  // Keys grow along the sequence (up to 5x), so a row's max keeps rising and the online form's rescaling runs.
  const qkv = Float32Array.from({ length: N * 3 * D }, (_, i) => {
    const [tok, col] = [Math.floor(i / (3 * D)), i % (3 * D)];
    return f16Round(rnd() * 2 * (col >= D && col < 2 * D ? 1 + (4 * tok) / N : 1));
  });
  const k = await kernels.attentionSgmat(N, D, heads, o);
  const inBuf = ctx.upload(toF16(qkv), 'attention check qkv');
  const bytes = N * D * 2;
  const out = ctx.buffer(bytes, U.STORAGE | U.COPY_SRC, 'attention check out');
  const read = ctx.buffer(bytes, U.MAP_READ | U.COPY_DST, 'attention check readback');
  try {
    const got = await ctx.scoped('subgroup-matrix attention self-check', async () => {
      const entries = [inBuf, out].map((buffer, binding) => ({ binding, resource: { buffer } }));
      const bg = ctx.device.createBindGroup({ layout: k.pipeline.getBindGroupLayout(0), entries });
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(k.pipeline);
      pass.setBindGroup(0, bg);
      const [gx, gy, gz] = k.kernel.grid(1);
      pass.dispatchWorkgroups(gx, gy, gz);
      pass.end();
      enc.copyBufferToBuffer(out, 0, read, 0, bytes);
      ctx.device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const r = fromF16(new Uint16Array(read.getMappedRange().slice(0)));
      read.unmap();
      return r;
    });
    const hd = D / heads;
    const scale = 1 / Math.sqrt(hd);
    const p = new Float64Array(N);
    let worst = 0;
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < N; i++) {
        let max = -Infinity;
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += qkv[i * 3 * D + h * hd + d]! * qkv[j * 3 * D + D + h * hd + d]!;
          p[j] = s * scale;
          max = Math.max(max, p[j]!);
        }
        let sum = 0;
        for (let j = 0; j < N; j++) sum += p[j] = Math.exp(p[j]! - max);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < N; j++) acc += p[j]! * qkv[j * 3 * D + 2 * D + h * hd + d]!;
          const ref = acc / sum;
          const e = Math.abs(got[i * D + h * hd + d]! - ref) / (4e-3 + 4e-3 * Math.abs(ref));
          worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
        }
      }
    }
    return worst;
  } finally {
    for (const b of [inBuf, out, read]) b.destroy();
  }
}
