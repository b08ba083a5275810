/**
 * Reduced precisions against float32, ours and PyTorch's on the same inputs. The input is a file written by
 * bench/peers/autocast_logits.py (pixel_values, logits = PyTorch fp32, logits_tf32/_bf16/_fp16 = PyTorch
 * TF32 and autocast). For each precision our backend runs the same pixels; per precision it reports:
 *   - ours vs our fp32 and PyTorch's vs PyTorch fp32: max |diff| and relative L2 (||a - r|| / ||r||);
 *   - top-1 agreement with our fp32 on every row whose fp32 softmax margin (p1 - p2) is > 0.05.
 * The bar: top-1 equal on every clear row, and our deviation no larger than PyTorch's.
 *
 *   node dist/bench/precision.js --model DIR --ref FILE --backend cuda --precisions fp32,tf32,bf16,fp16 [--attention KIND] [--out FILE.json]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createSession, type BackendName, type Precision } from '../engine/session.js';
import type { SessionOptions } from '../engine/types.js';
import { openModel } from '../loaders/index.js';
import { readSafetensors } from '../loaders/safetensors/read.js';

export interface Deviation {
  maxAbs: number;
  relL2: number;
}

export function deviation(a: Float32Array, r: Float32Array): Deviation {
  let maxAbs = 0, num = 0, den = 0;
  for (let i = 0; i < r.length; i++) {
    const d = a[i]! - r[i]!;
    if (!Number.isFinite(d)) return { maxAbs: NaN, relL2: NaN };
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += r[i]! * r[i]!;
  }
  return { maxAbs, relL2: Math.sqrt(num / Math.max(den, 1e-30)) };
}

/** Per row: top-1 index and softmax margin p1 - p2. */
export function topMargins(logits: Float32Array, rows: number, k: number): { top: number; margin: number }[] {
  const out: { top: number; margin: number }[] = [];
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * k, (r + 1) * k);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    let i1 = 0, i2 = -1;
    for (let i = 1; i < k; i++) {
      if (row[i]! > row[i1]!) [i2, i1] = [i1, i];
      else if (i2 < 0 || row[i]! > row[i2]!) i2 = i;
    }
    const p = (i: number) => Math.exp(row[i]! - max) / sum;
    out.push({ top: i1, margin: p(i1) - (i2 >= 0 ? p(i2) : 0) });
  }
  return out;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: { model: { type: 'string' }, ref: { type: 'string' }, backend: { type: 'string', default: 'cuda' }, precisions: { type: 'string', default: 'fp32,tf32,bf16,fp16' }, out: { type: 'string' }, 'batch-size': { type: 'string', default: '64' }, attention: { type: 'string' } },
  });
  if (!a.model || !a.ref) throw new Error('usage: precision --model DIR --ref FILE [--backend cuda] [--precisions list] [--out FILE]');
  const { tensors } = await readSafetensors(a.ref);
  const px = tensors.pixel_values!;
  const [n, , h, w] = px.shape as [number, number, number, number];
  const torch: Record<string, Float32Array> = { fp32: tensors.logits!.data, tf32: tensors.logits_tf32!.data, bf16: tensors.logits_bf16!.data, fp16: tensors.logits_fp16!.data };
  const k = tensors.logits!.shape[1]!;
  const model = await openModel(a.model, { imageSize: [h, w] });
  const per = px.data.length / n;
  const bs = Number(a['batch-size']);
  const ours: Record<string, Float32Array> = {};
  const paths: Record<string, string | undefined> = {};
  for (const p of a.precisions!.split(',') as Precision[]) {
    // --attention: the cuda attention kernel of tf32 (fp32, the baseline, keeps its float32-accurate default).
    const extra = a.attention && p === 'tf32' ? { attention: a.attention } : {};
    const s = await createSession(model, a.backend as BackendName, { precision: p, ...extra } as SessionOptions);
    paths[p] = s.describe?.();
    try {
      const out = new Float32Array(n * k);
      for (let i = 0; i < n; i += bs) {
        const b = Math.min(bs, n - i);
        out.set(await s.run(px.data.subarray(i * per, (i + b) * per), b), i * k);
      }
      ours[p] = out;
    } finally {
      await s.dispose();
    }
  }
  const base = ours.fp32 ?? torch.fp32!;
  const clear = topMargins(base, n, k);
  const rows = Object.keys(ours).map((p) => {
    const t = topMargins(ours[p]!, n, k);
    const clearRows = clear.filter((c) => c.margin > 0.05).length;
    const flips = clear.map((c, i) => (c.margin > 0.05 && t[i]!.top !== c.top ? i : -1)).filter((i) => i >= 0);
    const oursDev = deviation(ours[p]!, base);
    const torchDev = deviation(torch[p]!, torch.fp32!);
    return {
      precision: p,
      path: paths[p],
      ours: oursDev,
      pytorch: torchDev,
      oursVsPytorchFp32: deviation(ours[p]!, torch.fp32!),
      clearRows,
      top1FlipsOnClearRows: flips,
      pass: flips.length === 0 && (p === 'fp32' || oursDev.relL2 <= torchDev.relL2),
    };
  });
  const e = (x: number) => x.toExponential(2);
  console.log(`precision check: ${a.ref} (${n} inputs, ${k} outputs), backend ${a.backend}`);
  console.log('precision  ours max|d|  ours relL2  torch max|d|  torch relL2  vs torch fp32  clear top-1  pass');
  for (const r of rows) {
    console.log(
      `${r.precision.padEnd(9)}  ${e(r.ours.maxAbs).padStart(10)}  ${e(r.ours.relL2).padStart(10)}  ${e(r.pytorch.maxAbs).padStart(12)}  ${e(r.pytorch.relL2).padStart(11)}  ${e(r.oursVsPytorchFp32.maxAbs).padStart(13)}  ${`${r.clearRows - r.top1FlipsOnClearRows.length}/${r.clearRows}`.padStart(11)}  ${r.pass ? 'yes' : 'NO'}`,
    );
  }
  for (const r of rows) if (r.path) console.log(`${r.precision}: ${r.path}`);
  if (a.out) await writeFile(a.out, JSON.stringify({ ref: a.ref, model: a.model, backend: a.backend, inputs: n, rows }, null, 1));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main();
