/** Post-processing of logits: top-k indices and softmax top-k scores (what `vit classify` prints). */

export interface TopEntry {
  index: number;
  label?: string;
  score: number;
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

/** Softmax over one row of logits, top k, scores rounded to 6 significant digits. */
export function softmaxTopK(logits: Float32Array, k: number, labels?: string[]): TopEntry[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return topK(logits, k).map((i) => ({
    index: i,
    ...(labels?.[i] !== undefined ? { label: labels[i] } : {}),
    score: Number((Math.exp(logits[i]! - max) / sum).toPrecision(6)),
  }));
}
