/** One kernel dispatch on a WebGPU device for the kernel tests. */
import type { GpuContext } from '../../engine/webgpu/device.js';
import { fromF16, toF16 } from '../../engine/webgpu/f16.js';

/** Inputs (f32 or f16 bits) in, one dispatch, the output (f32, or f16 widened) read back; NaN-poisoned first. */
export async function dispatch(
  ctx: GpuContext, code: string, inputs: (Float32Array | Uint16Array)[], out: { n: number; f16: boolean; init?: Float32Array },
  grid: number[], params?: number[],
): Promise<Float32Array> {
  const U = GPUBufferUsage;
  const pipe = await ctx.pipeline(code, 'test');
  const bufs = inputs.map((d) => ctx.upload(d, 'in'));
  const init = out.init ?? new Float32Array(out.n).fill(NaN);
  const o = ctx.upload(out.f16 ? toF16(init) : init, 'out', U.COPY_SRC);
  const all = [...bufs, o];
  if (params) {
    const p = ctx.buffer(16, U.UNIFORM | U.COPY_DST, 'params');
    ctx.device.queue.writeBuffer(p, 0, new Uint32Array([...params, 0, 0, 0, 0].slice(0, 4)));
    all.push(p);
  }
  const bytes = out.n * (out.f16 ? 2 : 4);
  const bg = ctx.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: all.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const staging = ctx.buffer(bytes, U.MAP_READ | U.COPY_DST, 'readback');
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(grid[0]!, grid[1] ?? 1, grid[2] ?? 1);
  pass.end();
  enc.copyBufferToBuffer(o, 0, staging, 0, Math.ceil(bytes / 4) * 4);
  ctx.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const raw = staging.getMappedRange().slice(0);
  staging.unmap();
  for (const b of [...all, staging]) b.destroy();
  return out.f16 ? fromF16(new Uint16Array(raw, 0, out.n)) : new Float32Array(raw, 0, out.n);
}
