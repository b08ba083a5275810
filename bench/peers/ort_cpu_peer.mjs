// onnxruntime's own CPU number on the same ViT-B/16, with no vit-engine session or pool in between.
//   node bench/peers/ort_cpu_peer.mjs [--model random:vit-base-patch16-224] [--batch 8] [--threads 1,2] [--seconds 10] [--out rows.json]
// The model (timm vit_base_patch16_224 layout, seeded random weights, as `vit bench` uses) is exported to
// .onnx files in two forms: 'plain', standard ops laid out as torch.onnx exports timm's ViT, and 'fused',
// the form onnxruntime's transformer optimizer gives it (Attention, SkipLayerNormalization, BiasGelu).
// Each file is loaded by path with ORT_ENABLE_ALL and timed in a closed loop after two warm-up runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { buildOnnxModel } from '../../dist/engine/onnx/graph.js';
import { openModel } from '../../dist/loaders/index.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'random:vit-base-patch16-224' },
    batch: { type: 'string', default: '8' },
    threads: { type: 'string', default: '1' },
    graphs: { type: 'string', default: 'plain,fused' },
    seconds: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const model = await openModel(a.model);
const [h, w] = model.config.imageSize;
const dir = mkdtempSync(join(tmpdir(), 'ort-peer-'));
const rows = [];
try {
  for (const graph of a.graphs.split(',')) {
    const file = join(dir, `vit-${graph}.onnx`);
    writeFileSync(file, buildOnnxModel(model, { style: graph }));
    for (const threads of a.threads.split(',').map(Number)) {
      const session = await ort.InferenceSession.create(file, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        logSeverityLevel: 3,
      });
      for (const bs of a.batch.split(',').map(Number)) {
        const data = new Float32Array(bs * 3 * h * w).map(() => Math.random() * 4 - 2);
        const feeds = { pixel_values: new ort.Tensor('float32', data, [bs, 3, h, w]) };
        for (let i = 0; i < 2; i++) await session.run(feeds);
        let n = 0;
        const t0 = performance.now();
        while (n < 3 || performance.now() - t0 < Number(a.seconds) * 1000) {
          await session.run(feeds);
          n++;
        }
        const seconds = (performance.now() - t0) / 1000;
        const row = { engine: `onnxruntime-node-cpu ${graph}`, version: ort.env.versions?.node, threads, batchSize: bs, imageSize: h, imagesPerSecond: Math.round(((bs * n) / seconds) * 100) / 100, iterations: n, rssMB: Math.round(process.memoryUsage.rss() / 2 ** 20) };
        console.error(JSON.stringify(row));
        rows.push(row);
      }
      await session.release();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const text = JSON.stringify(rows, null, 1) + '\n';
if (a.out) writeFileSync(a.out, text);
else process.stdout.write(text);
