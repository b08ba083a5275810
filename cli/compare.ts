/** `vit compare`: our logits on a reference fixture's pixels against the reference implementation's logits. */
import type { PosEmbedResample } from '../model/config.js';
import { compareLogits, type Comparison } from '../engine/compare.js';
import { createSession, defaultPrecision, type BackendName, type Precision } from '../engine/session.js';
import { outputWidth } from '../model/shapes.js';
import { readFixture } from '../loaders/fixture.js';
import { openModel } from '../loaders/index.js';

export interface CompareOptions {
  model: string;
  fixture: string;
  atol: number;
  rtol: number;
  backend: BackendName;
  precision?: Precision;
  posEmbed?: PosEmbedResample;
  batchSize?: number;
}

export async function runCompare(o: CompareOptions, log: (s: string) => void = console.log): Promise<Comparison> {
  const fx = await readFixture(o.fixture);
  const [n, c, h, w] = fx.pixels.shape as [number, number, number, number];
  const k = fx.logits.shape[1]!;
  const model = await openModel(o.model, { imageSize: [h, w], posEmbedResample: o.posEmbed });
  const width = outputWidth(model.config);
  if (width !== k) throw new Error(`${o.fixture}: fixture has ${k} logits per row, the model ${o.model} gives ${width}`);
  if (model.config.numChannels !== c) throw new Error(`${o.fixture}: fixture has ${c} channels, the model takes ${model.config.numChannels}`);

  const session = await createSession(model, o.backend, { precision: o.precision });
  const path = session.describe?.() ?? `${o.backend} ${o.precision ?? defaultPrecision(o.backend)}`;
  const out = new Float32Array(n * k);
  try {
    const bs = o.batchSize ?? n;
    const per = c * h * w;
    for (let i = 0; i < n; i += bs) {
      const b = Math.min(bs, n - i);
      out.set(await session.run(fx.pixels.data.subarray(i * per, (i + b) * per), b), i * k);
    }
  } finally {
    await session.dispose();
  }
  const cmp = compareLogits(out, fx.logits.data, n, k, o.atol, o.rtol);

  const labels = model.config.labels;
  const name = (i: number) => (labels ? `${i} ${labels[i]}` : String(i));
  log(`model    ${o.model} (${model.config.format} ${model.config.architecture}, ${h}x${w}, position embedding: ${o.posEmbed ?? model.config.posEmbedResample})`);
  log(`fixture  ${o.fixture} (${n} rows x ${k} logits; reference: ${fx.source})`);
  log(`backend  ${path}   tolerance |a - r| <= ${o.atol} + ${o.rtol} * |r|`);
  for (const r of cmp.rows) {
    const file = fx.files?.[r.row] ? ` ${fx.files[r.row]}` : '';
    log(
      `row ${r.row}${file}: max|diff| ${r.maxAbsDiff.toExponential(2)}  max rel ${r.maxRelDiff.toExponential(2)}  ` +
        `top-1 ${r.top1Agrees ? 'agrees' : 'DIFFERS'} (${name(r.top1[0])}${r.top1Agrees ? '' : ` vs ${name(r.top1[1])}`})  ` +
        `top-5 overlap ${r.top5Overlap}/${Math.min(5, k)}${r.failing ? `  ${r.failing} logits out of tolerance` : ''}`,
    );
  }
  log(`${cmp.pass ? 'PASS' : 'FAIL'}: max|diff| ${cmp.maxAbsDiff.toExponential(2)}, max rel ${cmp.maxRelDiff.toExponential(2)} over ${n} rows`);
  return cmp;
}
