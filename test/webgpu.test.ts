/**
 * The WebGPU backend (engine/webgpu).
 *
 * Everywhere: the erf used by GELU against a float64 erf; the weight transpose; every generated kernel
 * and a whole plan compiled and validated by Dawn's WGSL compiler on its null backend (no GPU needed,
 * results not computed).
 * With a GPU adapter: logits of every committed fixture through createSession(model, 'webgpu') at
 * atol = rtol = 1e-4. Without one these skip, saying why; VIT_GPU_TESTS=1 makes that a failure.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../loaders/checkpoint.js';
import { readSafetensors } from '../loaders/safetensors.js';
import { createSession } from '../engine/session.js';
import { gpu, NO_ADAPTER } from '../engine/webgpu/device.js';
import { erf64, erfF32 } from '../engine/webgpu/kernels/activation.js';
import { transposePad } from '../engine/webgpu/weights.js';
import { createWebGPUSession, preparePlan } from '../engine/webgpu/session.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const MODELS = join(FIXTURES, 'models');

async function probe(backend?: string): Promise<string | undefined> {
  try {
    const a = await gpu(backend).requestAdapter();
    return a ? undefined : NO_ADAPTER;
  } catch (e) {
    return `${NO_ADAPTER} (${(e as Error).message})`;
  }
}

const noGpu = await probe();
const noNull = await probe('null');
if (noGpu && process.env.VIT_GPU_TESTS !== '1') console.log(`test/webgpu.test.ts: GPU tests skipped: ${noGpu}`);
if (noNull) console.log(`test/webgpu.test.ts: kernel compile checks skipped: Dawn null backend unavailable (${noNull})`);

/** `<model>-<H>[x<W>].safetensors` fixtures whose model directory is committed. */
function fixtureJobs(): { file: string; model: string; size: [number, number] }[] {
  const models = readdirSync(MODELS);
  const jobs: { file: string; model: string; size: [number, number] }[] = [];
  for (const f of readdirSync(FIXTURES).sort()) {
    const m = /^(.*)-(\d+)(?:x(\d+))?\.safetensors$/.exec(f);
    if (m && models.includes(m[1]!)) jobs.push({ file: f, model: m[1]!, size: [Number(m[2]), Number(m[3] ?? m[2])] });
  }
  if (existsSync(join(FIXTURES, 'hf-photos.safetensors'))) jobs.push({ file: 'hf-photos.safetensors', model: 'hf-tiny', size: [224, 224] });
  return jobs;
}

describe('GELU erf (WGSL formula, evaluated in float32)', () => {
  it('is within 3e-7 of a float64 erf on [-6, 6]', () => {
    let worst = 0;
    for (let i = -6000; i <= 6000; i++) worst = Math.max(worst, Math.abs(erfF32(i / 1000) - erf64(i / 1000)));
    expect(worst).toBeLessThan(3e-7);
    expect(worst).toBeGreaterThan(0); // the float32 evaluation is not the float64 reference itself
  });
  it('float64 reference erf matches known values', () => {
    expect(erf64(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf64(-0.5)).toBeCloseTo(-0.5204998778130465, 15);
    expect(erf64(3.5)).toBeCloseTo(0.9999992569016276, 15);
  });
});

describe('weight layout', () => {
  it('transposePad turns [N, K] into [K, pad4(N)] with zero padding', () => {
    const N = 3;
    const K = 2;
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // rows n: [1,2] [3,4] [5,6]
    expect(Array.from(transposePad(w, N, K))).toEqual([1, 3, 5, 0, 2, 4, 6, 0]);
  });
});

describe.skipIf(!!noNull)('kernels compile and plans validate (Dawn null backend)', () => {
  for (const [model, size, batches] of [
    ['hf-tiny', [224, 320], [1, 3]],
    ['timm-tiny', [384, 384], [2]],
  ] as const) {
    it(`${model} at ${size.join('x')}: every pipeline, bind group and dispatch`, async () => {
      const m = await loadModel(join(MODELS, model), { imageSize: [size[0], size[1]] });
      const s = await createWebGPUSession(m, { dawnBackend: 'null' });
      try {
        for (const b of batches) {
          const dispatches = await preparePlan(s, b);
          // im2col, patch GEMM, embed, 7 per layer, final norm, head.
          expect(dispatches.length).toBe(3 + 7 * m.config.numLayers + 2);
          await s.run(new Float32Array(b * 3 * size[0] * size[1]), b); // submits and maps: validation only
        }
      } finally {
        await s.dispose();
      }
    });
  }
});

const gpuRequired = process.env.VIT_GPU_TESTS === '1';
describe.skipIf(!!noGpu && !gpuRequired)('webgpu backend vs reference fixtures (atol = rtol = 1e-4)', () => {
  it('has a GPU adapter', () => {
    expect(noGpu, noGpu).toBeUndefined();
  });
  for (const j of fixtureJobs()) {
    it(`${j.file}`, async () => {
      expect(noGpu, noGpu).toBeUndefined();
      const model = await loadModel(join(MODELS, j.model), { imageSize: j.size });
      const fx = await readSafetensors(join(FIXTURES, j.file));
      const px = fx.tensors.pixel_values!;
      const ref = fx.tensors.logits!.data;
      const s = await createSession(model, 'webgpu');
      try {
        const got = await s.run(px.data, px.shape[0]!);
        expect(got.length).toBe(ref.length);
        for (let i = 0; i < ref.length; i++) {
          expect(Math.abs(got[i]! - ref[i]!), `logit ${i}: ${got[i]} vs ${ref[i]}`).toBeLessThanOrEqual(1e-4 + 1e-4 * Math.abs(ref[i]!));
        }
      } finally {
        await s.dispose();
      }
    });
  }
});
