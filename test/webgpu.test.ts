/**
 * The WebGPU backend (engine/webgpu).
 *
 * Everywhere: the erf used by GELU against a float64 erf; the weight transpose; every generated kernel
 * and a whole plan compiled and validated by Dawn's WGSL compiler on its null backend (no GPU needed,
 * results not computed).
 * With a GPU adapter (a real GPU, or Mesa lavapipe: scripts/lavapipe.sh): every shipped GEMM tile, LayerNorm and
 * attention kernel against the float64 reference (outputs poisoned with NaN first, so unwritten elements show);
 * synthetic models of odd shapes against the float64 forward; logits of every committed fixture through
 * createSession(model, 'webgpu') at atol = rtol = 1e-4. Without an adapter these skip, saying why;
 * VIT_GPU_TESTS=1 makes that a failure.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from '../dev/synthetic.js';
import { compareArrays } from '../engine/compare.js';
import { createSession } from '../engine/session.js';
import { createGpuContext, gpu, NO_ADAPTER, type GpuContext } from '../engine/webgpu/device.js';
import { erfF32 } from '../engine/webgpu/kernels/activation.js';
import { gemmConfigKey, gemmKernel } from '../engine/webgpu/kernels/gemm.js';
import { GEMM_TILES } from '../engine/webgpu/kernels/index.js';
import { layerNormKernel } from '../engine/webgpu/kernels/layernorm.js';
import { attentionKernel } from '../engine/webgpu/kernels/attention.js';
import { padTo4, transposePad } from '../engine/webgpu/weights.js';
import { createWebGPUSession, preparePlan } from '../engine/webgpu/session.js';
import { loadModel } from '../loaders/checkpoint.js';
import { readFixture } from '../loaders/fixture.js';
import { attention64, erf64, forward64, layerNorm64, linear64, type Act } from '../model/reference.js';
import { randomArray } from '../util/random.js';
import { featureModels, GEMM_CASES, layerNormCases } from './helpers/kernel-cases.js';
import { FIXTURES, MODELS } from './helpers/paths.js';
import { dispatch } from './helpers/webgpu-dispatch.js';

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
      const fx = await readFixture(join(FIXTURES, j.file));
      const s = await createSession(model, 'webgpu');
      try {
        const cmp = compareArrays(await s.run(fx.pixels.data, fx.pixels.shape[0]!), fx.logits.data);
        expect(cmp.failing, `max |d| ${cmp.maxAbsDiff}`).toBe(0);
      } finally {
        await s.dispose();
      }
    });
  }
});

/** float32 kernel output against float64: within atol + rtol * |ref|, nothing left unwritten. */
function expectClose(got: Float32Array, ref: ArrayLike<number>, atol: number, rtol = 1e-5) {
  const cmp = compareArrays(got, ref, atol, rtol);
  expect(cmp.failing, `max |d| ${cmp.maxAbsDiff}`).toBe(0);
}

describe.skipIf(!!noGpu && !gpuRequired)('shipped kernels vs the float64 reference', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await createGpuContext();
  });
  afterAll(() => ctx?.destroy());
  const limit = () => ctx.device.limits.maxComputeWorkgroupStorageSize;

  for (const tile of GEMM_TILES) {
    it(`GEMM ${gemmConfigKey(tile)}: every epilogue`, async () => {
      for (const c of GEMM_CASES) {
        const k = gemmKernel({ K: c.K, N: c.N, epilogue: c.epi, ...tile });
        if (k.workgroupBytes > limit()) continue; // chooseGemmTile never picks it on this device
        const a = randomArray(c.M * c.K, 11 + c.K);
        const w = randomArray(c.N * c.K, 23 + c.N, 1 / Math.sqrt(c.K));
        const bias = randomArray(c.N, 5 + c.N, 0.5);
        const res = c.epi === 'bias-residual' ? randomArray(c.M * c.N, 7) : undefined;
        const act: Act = c.epi === 'bias-gelu' ? 'gelu' : c.epi === 'bias-gelu-tanh' ? 'gelu_tanh' : 'none';
        const got = await dispatch(ctx, k.code, [a, transposePad(w, c.N, c.K), padTo4(bias)], { n: c.M * c.N, f16: false, init: res && new Float32Array(res) }, k.grid(c.M), [c.M]);
        expectClose(got, linear64(a, w, bias, c.M, c.K, c.N, act, res), 1e-5);
      }
    });
  }

  it('LayerNorm, dense rows and class-token rows (strided)', async () => {
    for (const { x, g, b, selected: rows, ...c } of layerNormCases()) {
      const k = layerNormKernel(c.D, c.eps);
      const got = await dispatch(ctx, k.code, [x, padTo4(g), padTo4(b)], { n: c.rows * c.D, f16: false }, [c.rows, 1], [c.rows, (c.stride * c.D) / 4, c.D / 4, c.rows]);
      expectClose(got, layerNorm64(rows, g, b, c.rows, c.D, c.eps), 1e-5);
    }
  });

  it('attention: head dims 24 and 48, fewer keys than one tile', async () => {
    for (const c of [{ B: 2, N: 50, D: 96, H: 4 }, { B: 1, N: 5, D: 96, H: 2 }]) {
      // Spread 2 so the softmax is far from uniform.
      const qkv = randomArray(c.B * c.N * 3 * c.D, 17 + c.N, 2);
      const k = attentionKernel(c.N, c.D, c.H);
      const got = await dispatch(ctx, k.code, [qkv], { n: c.B * c.N * c.D, f16: false }, k.grid(c.B));
      expectClose(got, attention64(qkv, c.B, c.N, c.D, c.H), 1e-5);
    }
  });
});

describe.skipIf(!!noGpu && !gpuRequired)('synthetic models vs the float64 forward (atol = rtol = 1e-4)', () => {
  const cases = [
    { D: 64, layers: 2, heads: 2, mlp: 160, classes: 0, P: 8, size: [48, 72] as [number, number], batch: 3, act: 'gelu_tanh' as const, eps: 1e-12 },
    { D: 96, layers: 1, heads: 4, mlp: 192, classes: 1001, P: 14, size: [56, 42] as [number, number], batch: 2 },
  ];
  for (const c of cases) {
    it(`D${c.D} P${c.P} ${c.size.join('x')}, ${c.classes} classes, batch ${c.batch}; batch 1 agrees with the batch`, async () => {
      const model = syntheticModel(c);
      const px = randomArray(c.batch * 3 * c.size[0] * c.size[1], 77);
      const s = await createSession(model, 'webgpu');
      try {
        const got = await s.run(px, c.batch);
        expect(compareArrays(got, forward64(model, px, c.batch)).failing).toBe(0);
        const one = await s.run(px.subarray(0, 3 * c.size[0] * c.size[1]), 1);
        expect(compareArrays(one, got.subarray(0, one.length), 1e-5, 1e-5).failing).toBe(0);
      } finally {
        await s.dispose();
      }
    });
  }
});

describe.skipIf(!!noGpu && !gpuRequired)('pixel uploads through the plan\'s mapped staging buffer', () => {
  it('every run computes its own pixels, shared memory or not, with both plans of a batch size in flight', async () => {
    const model = syntheticModel({ D: 64, layers: 1, heads: 2, mlp: 128, classes: 10, P: 8, size: [32, 32] });
    const n = 2 * 3 * 32 * 32;
    const a = randomArray(n, 5);
    const b = randomArray(n, 6);
    const sharedB = new Float32Array(new SharedArrayBuffer(n * 4));
    sharedB.set(b);
    const s = await createSession(model, 'webgpu');
    try {
      const [ra, rb] = [forward64(model, a, 2), forward64(model, b, 2)];
      const runs = await Promise.all([s.run(a, 2), s.run(sharedB, 2), s.run(b, 2), s.run(a, 2)]);
      for (const [got, want] of [[runs[0]!, ra], [runs[1]!, rb], [runs[2]!, rb], [runs[3]!, ra]] as const) {
        expect(compareArrays(got, want).failing).toBe(0);
      }
    } finally {
      await s.dispose();
    }
  });
});

/** Feature outputs and distilled DeiT: validated on Dawn's null backend here, computed where there is an adapter. */
describe('feature outputs and distilled DeiT on webgpu', () => {
  for (const [i, model] of featureModels().entries()) {
    for (const output of ['logits', 'cls', 'mean'] as const) {
      const label = `model ${i} (${model.config.distilled ? 'distilled' : 'plain'}, ${model.config.numClasses} classes): ${output}`;
      it.skipIf(!!noNull)(`${label}: plan validates (null backend)`, async () => {
        const s = await createWebGPUSession(model, { dawnBackend: 'null', output });
        try {
          const out = await s.run(new Float32Array(2 * 3 * 16 * model.config.imageSize[1]), 2);
          expect(out.length).toBe(2 * (output === 'logits' && model.config.numClasses ? model.config.numClasses : 32));
        } finally {
          await s.dispose();
        }
      });
      it.skipIf(!!noGpu && !gpuRequired)(`${label}: vs the float64 forward`, async () => {
        const px = randomArray(2 * 3 * 16 * model.config.imageSize[1], 78);
        const s = await createSession(model, 'webgpu', { output });
        try {
          expect(compareArrays(await s.run(px, 2), forward64(model, px, 2, output)).failing).toBe(0);
        } finally {
          await s.dispose();
        }
      });
    }
  }
});
