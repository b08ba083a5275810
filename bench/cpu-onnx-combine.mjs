// Merges the runs of bench/cpu-onnx.sh into OUT.json and a Markdown table OUT.md, with issue 14's ratios.
import { readFileSync, writeFileSync } from 'node:fs';
const [dir, out] = process.argv.slice(2);
const json = (f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
const text = (f) => readFileSync(`${dir}/${f}`, 'utf8').trim();
const runs = ['onnx', 'onnx-threads', 'onnx-int8', 'onnx-e2e', 'wasm'].map((f) => json(`${f}.json`));
const vitB = runs.flatMap((r) => r.results);
const deit = json('deit.json');
const peer = json('peer.json');
const pick = (f) => vitB.find(f);
const label = (r) => [r.backend, r.threads && `${r.threads} threads`].filter(Boolean).join(' '); // backend carries a non-default precision (onnx-int8)
const w1 = pick((r) => r.backend === 'onnx' && r.mode === 'model' && !r.precision && !r.threads && r.workers === 1);
const w2 = pick((r) => r.backend === 'onnx' && r.mode === 'model' && !r.precision && !r.threads && r.workers === 2);
const e2 = pick((r) => r.mode === 'end-to-end' && r.workers === 2);
const e1 = pick((r) => r.mode === 'end-to-end' && r.workers === 1);
const peer1 = Math.max(...peer.filter((p) => p.threads === 1).map((p) => p.imagesPerSecond));
const ratios = {
  perCoreVsOnnxruntime: w1.imagesPerSecond / peer1,
  twoWorkersVsOne: w2.imagesPerSecond / w1.imagesPerSecond,
  endToEndVsModel2Workers: e2.imagesPerSecond / w2.imagesPerSecond,
  endToEndVsModel1Worker: e1.imagesPerSecond / w1.imagesPerSecond,
};
const classify = { onnx: text('classify-onnx.err'), wasm: text('classify-wasm.err'), firstLines: text('classify-onnx.txt').split('\n').slice(0, 3) };
const report = { environment: runs[0].environment, commands: 'bash bench/cpu-onnx.sh ' + out, peer, results: vitB, deitTiny: deit.results, classify, ratios };
writeFileSync(`${out}.json`, JSON.stringify(report, null, 2) + '\n');
const f = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
const lines = [
  `ViT-B/16 224 (timm layout, seeded random weights), batch 8, ${runs[0].environment.cpu} (${runs[0].environment.cores} cores), ${runs[0].environment.date}`,
  '',
  '| engine | workers x threads | mode | img/s | p50 ms | peak RSS MB |',
  '| --- | --- | --- | ---: | ---: | ---: |',
  ...peer.map((p) => `| onnxruntime-node ${p.version} direct, ${p.engine.split(' ').pop()} graph | 1 x ${p.threads} | model | ${f(p.imagesPerSecond)} | | ${p.rssMB} |`),
  ...vitB.map((r) => `| vit ${label(r)} | ${r.workers} x ${r.threads ?? 1} | ${r.mode} | ${f(r.imagesPerSecond)} | ${Math.round(r.latencyMs.p50)} | ${Math.round(r.peakRssMB)} |`),
  '',
  `DeiT-tiny 224, batch 8:`,
  '',
  '| backend | workers | img/s | p50 ms | peak RSS MB |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...deit.results.map((r) => `| ${label(r)} | ${r.workers} | ${f(r.imagesPerSecond)} | ${Math.round(r.latencyMs.p50)} | ${Math.round(r.peakRssMB)} |`),
  '',
  `Main job (vit classify test/photos, DeiT-tiny): onnx \`${classify.onnx}\`; wasm \`${classify.wasm}\``,
  '',
  `Ratios: per core vs onnxruntime direct (best 1-thread graph) ${ratios.perCoreVsOnnxruntime.toFixed(3)}x; 2 workers vs 1 ${ratios.twoWorkersVsOne.toFixed(3)}x; end-to-end vs model ${ratios.endToEndVsModel2Workers.toFixed(3)}x (2 workers), ${ratios.endToEndVsModel1Worker.toFixed(3)}x (1 worker)`,
];
writeFileSync(`${out}.md`, lines.join('\n') + '\n');
console.log(lines.join('\n'));
