// Peers, onnxruntime-node 1.30 (its linux-x64 build has the WebGPU EP) on the same ViT-B/16 weights.
//   node bench/peers/ort_bench.mjs --dir DIR --out rows.json --gpu NAME [--ep webgpu,cpu]
// DIR holds vit-b-224.onnx and vit-b-384.onnx from export_vit_b.py. Wall-clock img/s over >= 2 s after warm-up.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const { values: a } = parseArgs({
  options: { dir: { type: 'string' }, out: { type: 'string' }, gpu: { type: 'string', default: '' }, ep: { type: 'string', default: 'webgpu,cpu' }, sizes: { type: 'string', default: '224,384' } },
});
const plan = { webgpu: { 224: [1, 16, 64, 128, 256], 384: [1, 16, 64] }, cpu: { 224: [1, 16, 64], 384: [1, 16] } };
const rows = [];
for (const ep of a.ep.split(',')) {
  for (const size of a.sizes.split(',').map(Number)) {
    let session;
    try {
      session = await ort.InferenceSession.create(`${a.dir}/vit-b-${size}.onnx`, { executionProviders: [ep], graphOptimizationLevel: 'all' });
    } catch (e) {
      console.log(JSON.stringify({ ep, size, error: String(e.message ?? e) }));
      continue;
    }
    for (const bs of plan[ep][size]) {
      const data = new Float32Array(bs * 3 * size * size).map(() => Math.random() * 2 - 1);
      const feeds = { pixel_values: new ort.Tensor('float32', data, [bs, 3, size, size]) };
      const row = { engine: `onnxruntime-node-${ep}`, batchSize: bs, imageSize: size, imagesPerSecond: null, gpu: a.gpu };
      try {
        for (let i = 0; i < 2; i++) await session.run(feeds);
        let n = 0;
        const t0 = performance.now();
        while (n < 3 || performance.now() - t0 < 2000) {
          await session.run(feeds);
          n++;
        }
        row.imagesPerSecond = Math.round(((bs * n) / ((performance.now() - t0) / 1000)) * 10) / 10;
      } catch (e) {
        row.error = String(e.message ?? e);
      }
      console.log(JSON.stringify(row));
      rows.push(row);
    }
    await session.release();
  }
}
writeFileSync(a.out, JSON.stringify(rows, null, 1));
