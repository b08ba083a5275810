import { describe, expect, it, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../model/weights.js';
import { readSafetensors } from '../loaders/safetensors/read.js';
import { resamplePosEmbed } from '../loaders/pos-embed.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/pos-embed.safetensors', import.meta.url));
const GRIDS: [number, number][] = [[24, 24], [14, 20], [10, 10], [7, 9], [20, 14], [32, 32]];
const OLD: [number, number] = [14, 14];
const TOL = 1e-6;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('resamplePosEmbed against transformers / timm (pos-embed.safetensors)', () => {
  let t: Record<string, Tensor>;
  let pe: Float32Array;
  let dim: number;
  beforeAll(async () => {
    ({ tensors: t } = await readSafetensors(FIXTURE));
    pe = t.pos_embed.data;
    dim = t.pos_embed.shape[2];
    expect(t.pos_embed.shape).toEqual([1, 1 + OLD[0] * OLD[1], dim]);
  });

  for (const method of ['hf', 'timm'] as const) {
    for (const [h, w] of GRIDS) {
      it(`${method} 14x14 -> ${h}x${w}`, () => {
        const ref = t[`${method}_${h}x${w}`];
        expect(ref.shape).toEqual([1, 1 + h * w, dim]);
        const out = resamplePosEmbed(pe, dim, OLD, [h, w], method);
        expect(out.length).toBe(ref.data.length);
        expect(out.buffer).toBeInstanceOf(SharedArrayBuffer);
        const d = maxAbsDiff(out, ref.data);
        console.log(`pos-embed ${method} 14x14 -> ${h}x${w}: max |diff| = ${d.toExponential(3)}`);
        expect(d).toBeLessThanOrEqual(TOL);
      });
    }
  }

  it('the two conventions really differ (so each fixture pins its own kernel)', () => {
    const hf = resamplePosEmbed(pe, dim, OLD, [7, 9], 'hf');
    const tm = resamplePosEmbed(pe, dim, OLD, [7, 9], 'timm');
    expect(maxAbsDiff(hf, tm)).toBeGreaterThan(1e-2);
  });

  it('returns an equal copy for an unchanged grid, both methods', () => {
    for (const method of ['hf', 'timm'] as const) {
      const out = resamplePosEmbed(pe, dim, OLD, [14, 14], method);
      expect(out).not.toBe(pe);
      expect(out.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(Array.from(out)).toEqual(Array.from(pe));
    }
  });

  it('copies the prefix token(s) unchanged and resamples only the patch tokens', () => {
    for (const method of ['hf', 'timm'] as const) {
      const out = resamplePosEmbed(pe, dim, OLD, [10, 12], method);
      expect(Array.from(out.subarray(0, dim))).toEqual(Array.from(pe.subarray(0, dim)));
      // Same patch grid with 0 and 2 prefix tokens: the patch part must not depend on the prefix.
      const patches = pe.slice(dim);
      const none = resamplePosEmbed(patches, dim, OLD, [10, 12], method, 0);
      expect(Array.from(out.subarray(dim))).toEqual(Array.from(none));
      const two = new Float32Array(2 * dim + patches.length);
      two.set(pe.subarray(0, dim));
      two.set(pe.subarray(0, dim).map((v) => -v), dim);
      two.set(patches, 2 * dim);
      const out2 = resamplePosEmbed(two, dim, OLD, [10, 12], method, 2);
      expect(Array.from(out2.subarray(0, 2 * dim))).toEqual(Array.from(two.subarray(0, 2 * dim)));
      expect(Array.from(out2.subarray(2 * dim))).toEqual(Array.from(none));
    }
  });

  it('keeps a constant field constant (weights sum to one), up- and downsampling', () => {
    const c = 0.37;
    const flat = new Float32Array((1 + 6 * 5) * 3).fill(c);
    for (const method of ['hf', 'timm'] as const) {
      for (const g of [[13, 4], [2, 11], [3, 3]] as [number, number][]) {
        const out = resamplePosEmbed(flat, 3, [6, 5], g, method);
        for (const v of out) expect(Math.abs(v - c)).toBeLessThan(1e-6);
      }
    }
  });
});

describe('resamplePosEmbed argument checks', () => {
  const pe = new Float32Array((1 + 4 * 4) * 8);
  it.each([
    ['a grid size of zero', () => resamplePosEmbed(pe, 8, [4, 4], [0, 3], 'hf'), /newGrid/],
    ['a fractional grid size', () => resamplePosEmbed(pe, 8, [4, 4.5], [3, 3], 'timm'), /oldGrid/],
    ['a length that does not match the grid', () => resamplePosEmbed(pe, 8, [4, 5], [3, 3], 'hf'), /expected \(1 \+ 4\*5\) \* 8 = 168/],
    ['a bad dim', () => resamplePosEmbed(pe, 0, [4, 4], [3, 3], 'hf'), /dim must be/],
    ['a negative prefix count', () => resamplePosEmbed(pe, 8, [4, 4], [3, 3], 'hf', -1), /numPrefixTokens/],
    ['an unknown method', () => resamplePosEmbed(pe, 8, [4, 4], [3, 3], 'bilinear' as 'hf'), /method must be/],
  ])('rejects %s', (_name, call, message) => {
    expect(call).toThrow(message);
    expect(call).toThrow(/pos-embed\.ts/);
  });
});
