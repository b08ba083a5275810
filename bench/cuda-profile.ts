/**
 * Where the time goes on the cuda backend: device milliseconds per stage of one batch (each stage timed alone),
 * the chosen cuBLASLt algorithms' times per GEMM shape with their TFLOP/s, and the whole graph's time.
 *
 *   node dist/bench/cuda-profile.js --model DIR|random:arch --precision bf16 --batch 256 [--image-size 224] [--attention KIND] [--out FILE.json]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { withImageSize } from '../loaders/checkpoint.js';
import { openModel } from '../loaders/index.js';
import { createCudaSession } from '../engine/cuda/session.js';
import type { Precision } from '../engine/session.js';
import type { AttentionKind } from '../engine/cuda/kernels.js';

const { values: a } = parseArgs({
  options: { model: { type: 'string', default: 'random:vit-base-patch16-224' }, precision: { type: 'string', default: 'bf16' }, batch: { type: 'string', default: '256' }, 'image-size': { type: 'string', default: '224' }, out: { type: 'string' }, gelu: { type: 'string' }, attention: { type: 'string' } },
});
const size = Number(a['image-size']);
const model = withImageSize(await openModel(a.model!), [size, size]);
const batch = Number(a.batch);
const session = await createCudaSession(model, { precision: a.precision as Precision, gelu: a.gelu as 'erf' | 'tanh' | 'epilogue' | undefined, attention: a.attention as AttentionKind | undefined });
try {
  const c = model.config;
  const px = new Float32Array(batch * c.numChannels * size * size).map((_, i) => Math.sin(i) * 2);
  for (let i = 0; i < 3; i++) await session.run(px, batch);
  const graph: number[] = [];
  for (let i = 0; i < 10; i++) {
    await session.run(px, batch);
    graph.push(session.lastDeviceMs()!);
  }
  graph.sort((x, y) => x - y);
  const plan = await session.acquire(batch);
  const stages = plan.profile(5);
  const gemms = [...plan.gemmReport()].map(([key, ms]) => {
    const [m, n, k] = key.split(':').map(Number) as [number, number, number];
    return { key, ms, tflops: (2 * m * n * k) / (ms * 1e9) };
  });
  session.release(plan);
  const graphMs = graph[5]!;
  const report = { device: session.describe(), model: a.model, batch, imageSize: size, graphMs, imagesPerSecond: (batch / graphMs) * 1000, stagesMs: stages, gemms };
  console.log(`${session.describe()}: batch ${batch} at ${size}: graph ${graphMs.toFixed(2)} ms = ${report.imagesPerSecond.toFixed(0)} img/s (device time)`);
  const total = Object.values(stages).reduce((s, x) => s + x, 0);
  for (const [k, v] of Object.entries(stages)) console.log(`  ${k.padEnd(16)} ${v.toFixed(3).padStart(8)} ms  ${((100 * v) / total).toFixed(1).padStart(5)}%`);
  for (const g of gemms) console.log(`  gemm ${g.key.padEnd(44)} ${g.ms.toFixed(3)} ms  ${g.tflops.toFixed(0)} TFLOP/s`);
  if (a.out) await writeFile(a.out, JSON.stringify(report, null, 1));
} finally {
  await session.dispose();
}
