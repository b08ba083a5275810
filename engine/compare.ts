/** Logit comparison as `vit compare` reports it: pure, so tests check it directly. */

import { topK } from './postprocess.js';

export interface RowComparison {
  row: number;
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Elements failing |a - r| <= atol + rtol * |r|. */
  failing: number;
  top1: [number, number];
  top1Agrees: boolean;
  /** |top-5 of actual ∩ top-5 of reference| (5 = same set). */
  top5Overlap: number;
}

export interface Comparison {
  rows: RowComparison[];
  maxAbsDiff: number;
  maxRelDiff: number;
  pass: boolean;
}

type Floats = Float32Array | Float64Array;

export interface ArrayComparison {
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Elements failing |a - r| <= atol + rtol * |r| (NaN fails). */
  failing: number;
}

/** The one tolerance check: elementwise |a - r| <= atol + rtol * |r|; NaN anywhere makes the maxima NaN. */
export function compareArrays(a: ArrayLike<number>, ref: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): ArrayComparison {
  if (a.length !== ref.length) throw new Error(`compare: ${a.length} values against ${ref.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let failing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - ref[i]!);
    const rel = d / Math.max(Math.abs(ref[i]!), 1e-12);
    if (!(d <= atol + rtol * Math.abs(ref[i]!))) failing++;
    maxAbs = Number.isNaN(d) || Number.isNaN(maxAbs) ? NaN : Math.max(maxAbs, d);
    maxRel = Number.isNaN(rel) || Number.isNaN(maxRel) ? NaN : Math.max(maxRel, rel);
  }
  return { maxAbsDiff: maxAbs, maxRelDiff: maxRel, failing };
}

/** Compare [rows, cols] logits; NaN anywhere fails. */
export function compareLogits(actual: Floats, reference: Floats, rows: number, cols: number, atol = 1e-4, rtol = 1e-4): Comparison {
  if (actual.length !== rows * cols || reference.length !== rows * cols) {
    throw new Error(`compare: expected ${rows}x${cols} logits, got ${actual.length} and ${reference.length} values`);
  }
  const out: RowComparison[] = [];
  for (let r = 0; r < rows; r++) {
    const a = actual.subarray(r * cols, (r + 1) * cols);
    const ref = reference.subarray(r * cols, (r + 1) * cols);
    const { maxAbsDiff: maxAbs, maxRelDiff: maxRel, failing } = compareArrays(a, ref, atol, rtol);
    const ta = topK(a, Math.min(5, cols));
    const tr = topK(ref, Math.min(5, cols));
    out.push({
      row: r,
      maxAbsDiff: maxAbs,
      maxRelDiff: maxRel,
      failing,
      top1: [ta[0]!, tr[0]!],
      top1Agrees: ta[0] === tr[0],
      top5Overlap: ta.filter((i) => tr.includes(i)).length,
    });
  }
  const max = (f: (x: RowComparison) => number) => out.reduce((m, x) => (Number.isNaN(f(x)) || Number.isNaN(m) ? NaN : Math.max(m, f(x))), 0);
  return {
    rows: out,
    maxAbsDiff: max((x) => x.maxAbsDiff),
    maxRelDiff: max((x) => x.maxRelDiff),
    pass: out.every((x) => x.failing === 0 && x.top1Agrees),
  };
}
