/**
 * The float64 reference forward (model/reference.ts) against the PyTorch fixtures: the oracle every backend
 * and precision is checked against must itself match transformers / timm.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareLogits } from '../engine/compare.js';
import { loadModel } from '../loaders/checkpoint.js';
import { readFixture } from '../loaders/fixture.js';
import { erf64, forward64 } from '../model/reference.js';
import { DEIT_TINY, MODELS, fixture, sharedModel } from './helpers/paths.js';

async function check(modelDir: string, name: string, rows?: number) {
  const fx = await readFixture(fixture(`${name}.safetensors`));
  const [n, c, h, w] = fx.pixels.shape as [number, number, number, number];
  const k = fx.logits.shape[1]!;
  const use = Math.min(rows ?? n, n);
  const model = await loadModel(modelDir, { imageSize: [h, w] });
  const got = forward64(model, fx.pixels.data.subarray(0, use * c * h * w), use);
  return compareLogits(got, fx.logits.data.subarray(0, use * k), use, k);
}

describe('float64 reference forward vs PyTorch fixtures (atol = rtol = 1e-4)', () => {
  it.each([
    ['hf-tiny', 'hf-tiny-224'],
    ['hf-tiny', 'hf-tiny-224x320'],
    ['hf-tiny-bf16', 'hf-tiny-bf16-224'],
    ['timm-tiny', 'timm-tiny-384'],
    ['timm-tiny-f16', 'timm-tiny-f16-224'],
  ])('%s on %s', async (model, name) => {
    const cmp = await check(join(MODELS, model), name);
    console.log(`reference ${model} ${name}: max|diff| ${cmp.maxAbsDiff.toExponential(2)}`);
    expect(cmp.pass).toBe(true);
    // float64 against PyTorch's float32: far inside the tolerance.
    expect(cmp.maxAbsDiff).toBeLessThan(1e-5);
  });

  const deit = sharedModel(DEIT_TINY, 'the real DeiT-tiny reference check');
  it.skipIf(!deit)('real DeiT-tiny on two real photos', async () => {
    const cmp = await check(deit!, 'deit-tiny-photos', 2);
    console.log(`reference DeiT-tiny photos: max|diff| ${cmp.maxAbsDiff.toExponential(2)}`);
    expect(cmp.pass).toBe(true);
  });

  it('erf64 matches known values', () => {
    expect(erf64(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf64(-0.5)).toBeCloseTo(-0.5204998778130465, 15);
    expect(erf64(3.5)).toBeCloseTo(0.9999992569016276, 15);
  });
});
