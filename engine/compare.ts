/** Logit comparison as `vit compare` reports it: pure, so tests check it directly. */

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

export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

/** Compare [rows, cols] logits; NaN anywhere fails. */
export function compareLogits(actual: Float32Array, reference: Float32Array, rows: number, cols: number, atol = 1e-4, rtol = 1e-4): Comparison {
  if (actual.length !== rows * cols || reference.length !== rows * cols) {
    throw new Error(`compare: expected ${rows}x${cols} logits, got ${actual.length} and ${reference.length} values`);
  }
  const out: RowComparison[] = [];
  for (let r = 0; r < rows; r++) {
    const a = actual.subarray(r * cols, (r + 1) * cols);
    const ref = reference.subarray(r * cols, (r + 1) * cols);
    let maxAbs = 0;
    let maxRel = 0;
    let failing = 0;
    for (let i = 0; i < cols; i++) {
      const d = Math.abs(a[i]! - ref[i]!);
      const rel = d / Math.max(Math.abs(ref[i]!), 1e-12);
      if (!(d <= atol + rtol * Math.abs(ref[i]!))) failing++; // NaN fails too
      maxAbs = Number.isNaN(d) ? NaN : Math.max(maxAbs, d);
      maxRel = Number.isNaN(rel) ? NaN : Math.max(maxRel, rel);
    }
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
