/**
 * Logits against the reference implementations (fixtures made by scripts/make-fixtures.py with
 * transformers 5.17 / timm 1.0.29), on the CPU backends, at the default 1e-4 tolerances. The onnx backend
 * joins when onnxruntime-node (an optional dependency) is installed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareLogits } from '../engine/compare.js';
import { softmaxTopK, topK } from '../engine/postprocess.js';
import { preprocessImage } from '../engine/preprocess.js';
import { ONNX_HINT, ortAvailable } from '../engine/onnx/runtime.js';
import { createSession, type BackendName } from '../engine/session.js';
import { tfjsTensorCount, useTfjsBackend } from '../engine/tfjs/session.js';
import { loadModel } from '../loaders/checkpoint.js';
import { readFixture } from '../loaders/fixture.js';
import { DEIT_TINY, MODELS, PHOTOS, fixture, sharedModel } from './helpers/paths.js';

const CASES: [model: string, fixture: string][] = [
  ['hf-tiny', 'hf-tiny-224'],
  ['hf-tiny', 'hf-tiny-384'],
  ['hf-tiny', 'hf-tiny-224x320'],
  ['hf-tiny-bf16', 'hf-tiny-bf16-224'],
  ['hf-tiny-bf16', 'hf-tiny-bf16-224x320'],
  ['hf-tiny-sharded', 'hf-tiny-224'],
  ['timm-tiny', 'timm-tiny-224'],
  ['timm-tiny', 'timm-tiny-384'],
  ['timm-tiny', 'timm-tiny-224x320'],
  ['timm-tiny-f16', 'timm-tiny-f16-224'],
  ['hf-tiny', 'hf-photos'],
];
const TFJS: BackendName[] = ['wasm', 'cpu'];
const ORT = await ortAvailable();
if (!ORT) console.warn(`skipping conformance on onnx: ${ONNX_HINT}`);
const BACKENDS: BackendName[] = [...TFJS, ...(ORT ? (['onnx'] as const) : [])];

async function runFixture(modelDir: string, fixture: string, backend: BackendName) {
  const fx = await readFixture(fixture);
  const [n, , h, w] = fx.pixels.shape as [number, number, number, number];
  const model = await loadModel(modelDir, { imageSize: [h, w] });
  const session = await createSession(model, backend);
  try {
    const out = await session.run(fx.pixels.data, n);
    return compareLogits(out, fx.logits.data, n, fx.logits.shape[1]!);
  } finally {
    await session.dispose();
  }
}

describe.each(BACKENDS)('conformance on %s', (backend) => {
  it.each(CASES)('%s on %s matches the reference at atol=rtol=1e-4', async (model, name) => {
    const cmp = await runFixture(join(MODELS, model), fixture(`${name}.safetensors`), backend);
    console.log(`${backend} ${model} ${name}: max|diff| ${cmp.maxAbsDiff.toExponential(2)} max rel ${cmp.maxRelDiff.toExponential(2)}`);
    expect(cmp.pass).toBe(true);
    // fp32 against fp32: far inside the tolerance, not just inside it.
    expect(cmp.maxAbsDiff).toBeLessThan(1e-5);
  });
});

const DEIT = sharedModel(DEIT_TINY, 'the real DeiT-tiny checks') ?? '';
describe.skipIf(!DEIT)('real DeiT-tiny on real photos against timm', () => {
  it.each(BACKENDS)('%s: every logit within 1e-4 and every top-1 agrees', async (backend) => {
    const cmp = await runFixture(DEIT, fixture('deit-tiny-photos.safetensors'), backend);
    console.log(`${backend} DeiT-tiny photos: max|diff| ${cmp.maxAbsDiff.toExponential(2)}`);
    expect(cmp.pass).toBe(true);
  });
  it('our own decode + preprocessing: top-1 equals timm whenever timm\'s top-2 probability margin exceeds 0.05', async () => {
    const fx = await readFixture(fixture('deit-tiny-photos.safetensors'));
    const model = await loadModel(DEIT);
    const session = await createSession(model, 'wasm');
    const k = fx.logits.shape[1]!;
    let checked = 0;
    for (const [row, file] of (fx.files ?? []).entries()) {
      const ref = fx.logits.data.subarray(row * k, (row + 1) * k);
      const probs = softmaxTopK(ref, 2);
      if (probs[0]!.score - probs[1]!.score <= 0.05) continue;
      const ours = await session.run(await preprocessImage(join(PHOTOS, file), model.config.preprocess), 1);
      expect(topK(ours, 1)[0], file).toBe(probs[0]!.index);
      checked++;
    }
    await session.dispose();
    expect(checked).toBeGreaterThanOrEqual(3);
  });
  it.each(BACKENDS)('%s: at 384 (position embedding resampled as timm does) against timm at 384', async (backend) => {
    const cmp = await runFixture(DEIT, fixture('deit-tiny-orange-384.safetensors'), backend);
    console.log(`${backend} DeiT-tiny orange.jpg at 384: max|diff| ${cmp.maxAbsDiff.toExponential(2)}`);
    expect(cmp.pass).toBe(true);
  });
});

describe('no tensor leaks', () => {
  it.each(TFJS)('%s: live tensor count is flat across runs and back to zero after dispose', async (backend) => {
    const fx = await readFixture(fixture('timm-tiny-224.safetensors'));
    const model = await loadModel(join(MODELS, 'timm-tiny'));
    await useTfjsBackend(backend);
    const before = tfjsTensorCount();
    const session = await createSession(model, backend);
    await session.run(fx.pixels.data, 1);
    const afterFirst = tfjsTensorCount();
    for (let i = 0; i < 3; i++) await session.run(fx.pixels.data, 1);
    expect(tfjsTensorCount()).toBe(afterFirst);
    await session.dispose();
    expect(tfjsTensorCount()).toBe(before);
  });
});

describe('batching', () => {
  it('a batch gives the same logits as its rows one at a time', async () => {
    const fx = await readFixture(fixture('deit-tiny-photos.safetensors'));
    const model = await loadModel(join(MODELS, 'hf-tiny'));
    const session = await createSession(model, 'wasm');
    const per = 3 * 224 * 224;
    const pixels = fx.pixels.data;
    const all = await session.run(pixels, 4);
    for (let i = 0; i < 4; i++) {
      const one = await session.run(pixels.subarray(i * per, (i + 1) * per), 1);
      for (let j = 0; j < one.length; j++) expect(Math.abs(one[j]! - all[i * one.length + j]!)).toBeLessThan(1e-5);
    }
    await session.dispose();
  });
});
