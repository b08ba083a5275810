import { describe, expect, it } from 'vitest';
import { roundToTf32 } from '../engine/cuda/tf32.js';

/** Nearest TF32 by float64 arithmetic: the two neighbours with 10 mantissa bits, ties away from zero. */
function nearestTf32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const ulp = 2 ** (Math.max(e, -126) - 10);
  const lo = Math.floor(Math.abs(x) / ulp) * ulp;
  const hi = lo + ulp;
  const a = Math.abs(x) - lo < hi - Math.abs(x) ? lo : hi; // a tie goes up (away from zero)
  return Math.sign(x) * a;
}

describe('roundToTf32 (cvt.rna.tf32.f32)', () => {
  it('rounds to the nearest 10-bit mantissa, ties away from zero', () => {
    const one = 1, half = 2 ** -11, step = 2 ** -10, f32ulp = 2 ** -23;
    const r = roundToTf32(new Float32Array([one + half, one + half - f32ulp, -(one + half), one + step + half, 3.0, -0, 1e-40]));
    expect([...r.subarray(0, 6)]).toEqual([one + step, one, -(one + step), one + 2 * step, 3.0, -0]);
    expect(Object.is(r[5], -0)).toBe(true);
    expect(r[6]).toBe(nearestTf32(Math.fround(1e-40))); // subnormals keep their spacing
  });

  it('agrees with the float64 nearest on random values of every magnitude, and leaves the low 13 bits zero', () => {
    const x = new Float32Array(20000).map((_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 60) - 30));
    const r = roundToTf32(x);
    const bits = new Uint32Array(r.buffer);
    for (let i = 0; i < x.length; i++) {
      expect(r[i], `x = ${x[i]}`).toBe(Math.fround(nearestTf32(x[i]!)));
      expect(bits[i]! & 0x1fff).toBe(0);
    }
  });

  it('passes NaN and infinities through, and overflows past the largest TF32', () => {
    const r = roundToTf32(new Float32Array([NaN, Infinity, -Infinity, 3.4028234663852886e38]));
    expect(Number.isNaN(r[0])).toBe(true);
    expect([r[1], r[2], r[3]]).toEqual([Infinity, -Infinity, Infinity]);
  });
});
