/**
 * The one pseudo-random stream of the project: xorshift32, deterministic across platforms and fast enough
 * to fill ViT-L's 300M weights.
 */

/**
 * Fill `out` with lo + u * (hi - lo), u uniform in [0, 1) from a xorshift32 stream started at `state`
 * (0 counts as 1). The defaults give the raw uint32 values. Returns the state to continue from.
 */
export function xorshiftFill(out: Float32Array | Uint32Array, state: number, lo = 0, hi = 4294967296): number {
  const scale = (hi - lo) / 4294967296;
  let x = state | 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = lo + (x >>> 0) * scale;
  }
  return x;
}

/** n values uniform in [-scale, scale) from `seed`. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  xorshiftFill(out, seed, -scale, scale);
  return out;
}
