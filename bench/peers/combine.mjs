// Peers, last step: merge our `vit bench --format json` output with the PyTorch and onnxruntime rows into
// bench/results/<date>-<gpu>.json (rows {"engine", "batchSize", "imageSize", "imagesPerSecond", "gpu"}) and print
// a Markdown table for the README.
//   node bench/peers/combine.mjs --ours ours.json --torch torch.json --ort ort.json --out FILE
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: { ours: { type: 'string', multiple: true }, torch: { type: 'string', multiple: true }, ort: { type: 'string', multiple: true }, out: { type: 'string' }, gpu: { type: 'string' } },
});
const read = (f) => JSON.parse(readFileSync(f, 'utf8'));
const exists = (f) => { try { readFileSync(f); return true; } catch { return false; } };
const ours = (a.ours ?? []).filter(exists).map(read);
const gpu = a.gpu ?? ours.find((o) => o.environment?.gpu)?.environment.gpu ?? 'unknown GPU';
// Our best worker count per (engine, batch, size), as the peers report their best configuration. Our engines are
// named vit-<backend>[-<precision>]: vit-webgpu (fp32), vit-webgpu-f16, vit-cuda-bf16, ...
const best = new Map();
// Rows timed one call at a time (--in-flight 1) give the batch-1 latency lines, not throughput.
const lone = new Map();
for (const r of ours.flatMap((o) => o.results)) {
  const key = `${r.backend}/${r.batchSize}/${r.imageSize}`;
  if (r.inFlight === 1) lone.set(key, r);
  else if (!best.has(key) || best.get(key).imagesPerSecond < r.imagesPerSecond) best.set(key, r);
}
const rows = [...best.values()].map((r) => ({
  engine: r.backend === 'webgpu-fp16' ? 'vit-webgpu-f16' : `vit-${r.backend}`,
  batchSize: r.batchSize,
  imageSize: r.imageSize,
  imagesPerSecond: Math.round(r.imagesPerSecond * 10) / 10,
  gpu,
  workers: r.workers,
  deviceMsP50: r.deviceMs?.p50,
  latencyMsP50: r.latencyMs?.p50,
}));
for (const f of [...(a.torch ?? []), ...(a.ort ?? [])]) if (f && exists(f)) for (const r of read(f)) if (r.engine) rows.push({ ...r, gpu: r.gpu || gpu });
// The one-call-at-a-time rows go to the JSON too, marked inFlight: 1 (the table and ratios use the others).
const loneRows = [...lone.values()].map((r) => ({
  engine: `vit-${r.backend}`, batchSize: r.batchSize, imageSize: r.imageSize, inFlight: 1, imagesPerSecond: Math.round(r.imagesPerSecond * 10) / 10,
  gpu, workers: r.workers, deviceMsP50: r.deviceMs?.p50, latencyMsP50: r.latencyMs?.p50,
}));
writeFileSync(a.out, JSON.stringify([...rows, ...loneRows], null, 1) + '\n');

const engines = [...new Set(rows.map((r) => r.engine))].sort((x, y) => Number(y.startsWith('vit-')) - Number(x.startsWith('vit-')) || x.localeCompare(y));
const cols = [...new Set(rows.map((r) => `${r.imageSize}/${r.batchSize}`))].sort((x, y) => {
  const [s1, b1] = x.split('/').map(Number);
  const [s2, b2] = y.split('/').map(Number);
  return s1 - s2 || b1 - b2;
});
const cell = (e, c) => {
  const r = rows.find((x) => x.engine === e && `${x.imageSize}/${x.batchSize}` === c);
  return r ? (r.imagesPerSecond == null ? (r.error ? 'err' : '-') : String(r.imagesPerSecond)) : '';
};
console.log(`img/s on ${gpu}, ViT-B/16 (timm vit_base_patch16_224, random weights), columns image size/batch`);
console.log(`| engine | ${cols.join(' | ')} |`);
console.log(`| --- | ${cols.map(() => '---:').join(' | ')} |`);
for (const e of engines) if (rows.some((r) => r.engine === e)) console.log(`| ${e} | ${cols.map((c) => cell(e, c)).join(' | ')} |`);
const top = (e, s) => Math.max(0, ...rows.filter((r) => r.engine === e && r.imageSize === s && r.imagesPerSecond).map((r) => r.imagesPerSecond));
const ratio = (x, y) => (x && y ? `${(x / y).toFixed(2)}x` : '?');
for (const s of [224, 384]) {
  const o = top('vit-webgpu', s);
  const w = top('onnxruntime-node-webgpu', s);
  const t = top('torch-fp32', s);
  if (o) console.log(`${s}: best vit-webgpu ${o} img/s = ${w ? `${ratio(o, w)} best onnxruntime-node-webgpu (${w}), ` : ''}${ratio(o, t)} torch fp32 (${t})`);
  const f16 = top('vit-webgpu-f16', s);
  if (f16) console.log(`${s}: best vit-webgpu-f16 ${f16} img/s = ${ratio(f16, o)} vit-webgpu fp32, ${ratio(f16, top('torch-tf32', s))} torch tf32`);
  for (const [ours, peer] of [['vit-cuda-bf16', 'torch-bf16'], ['vit-cuda-fp16', 'torch-fp16'], ['vit-cuda-tf32', 'torch-tf32'], ['vit-cuda-fp32', 'torch-fp32']]) {
    const x = top(ours, s);
    // Batch 1: our wall p50 per call (and device time), one call at a time where measured so (else two in flight),
    // against PyTorch eager's time per image back to back.
    const l1 = lone.get(`${ours.slice(4)}/1/${s}`);
    const o1 = l1 ? { latencyMsP50: l1.latencyMs?.p50, deviceMsP50: l1.deviceMs?.p50 } : rows.find((r) => r.engine === ours && r.imageSize === s && r.batchSize === 1);
    const t1 = rows.find((r) => r.engine === peer && r.imageSize === s && r.batchSize === 1 && r.imagesPerSecond);
    if (o1?.latencyMsP50 && t1) console.log(`${s} batch 1: ${ours} ${o1.latencyMsP50.toFixed(2)} ms per call ${l1 ? 'one at a time' : 'two in flight'} (device ${o1.deviceMsP50?.toFixed(2) ?? '?'} ms), ${peer} eager ${(1000 / t1.imagesPerSecond).toFixed(2)} ms per image`);
    if (x) console.log(`${s}: best ${ours} ${x} img/s = ${ratio(x, top(peer, s))} ${peer} eager (${top(peer, s)}); PyTorch's best at ${s}: ${Math.max(...rows.filter((r) => r.engine.startsWith('torch-') && r.imageSize === s).map((r) => r.imagesPerSecond ?? 0))}`);
  }
}
