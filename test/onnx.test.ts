/**
 * The onnx backend: the protobuf writer, the in-memory ONNX graph against the float64 reference, the int8
 * mode against the accuracy bar, and the one-line message when onnxruntime-node is missing.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { compareArrays } from '../engine/compare.js';
import { buildOnnxModel, quantizeColumns } from '../engine/onnx/graph.js';
import { Message } from '../engine/onnx/proto.js';
import { ONNX_HINT, ortAvailable } from '../engine/onnx/runtime.js';
import { softmaxTopK, topK } from '../engine/postprocess.js';
import { preprocessImage } from '../engine/preprocess.js';
import { createSession } from '../engine/session.js';
import { loadModel } from '../loaders/checkpoint.js';
import { forward64 } from '../model/reference.js';
import { sharedFloat32 } from '../model/weights.js';
import { xorshiftFill } from '../util/random.js';
import { walkInputs } from '../util/inputs.js';
import { syntheticModel, type SyntheticDims } from '../dev/synthetic.js';
import { DEIT_TINY, PHOTOS, REPO, sharedModel } from './helpers/paths.js';

const run = promisify(execFile);
const ORT = await ortAvailable();
if (!ORT) console.warn(`skipping the onnx backend's runtime checks: ${ONNX_HINT}`);

describe('protobuf writer', () => {
  it('encodes varints, negative int64, floats, strings, packed and nested fields as protoc does', () => {
    const inner = new Message().varint(1, 150);
    const m = new Message().varint(1, 300).varint(2, -1).float(3, 1.5).string(4, 'hi').packed(5, [1, 300]).msg(6, inner);
    expect(Array.from(m.encode())).toEqual([
      0x08, 0xac, 0x02,
      0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
      0x1d, 0x00, 0x00, 0xc0, 0x3f,
      0x22, 0x02, 0x68, 0x69,
      0x2a, 0x03, 0x01, 0xac, 0x02,
      0x32, 0x03, 0x08, 0x96, 0x01,
    ]);
  });
  it('writes lazy payloads in place', () => {
    const m = new Message().bytes(9, { length: 3, write: (dst, at) => dst.set([7, 8, 9], at) });
    expect(Array.from(m.encode())).toEqual([0x4a, 0x03, 7, 8, 9]);
  });
});

describe('int8 weight quantisation', () => {
  it('is per output column, symmetric, transposed to [in, out], within half a step', () => {
    const w = { shape: [3, 4], data: Float32Array.of(1, -2, 0.5, 0.25, 0, 0, 0, 0, -0.01, 0.02, 0.03, 0.127) };
    const { q, scale } = quantizeColumns(w);
    expect(Array.from(scale)).toEqual([2 / 127, 1, 0.127 / 127].map(Math.fround));
    for (let o = 0; o < 3; o++)
      for (let k = 0; k < 4; k++) expect(Math.abs(q[k * 3 + o]! * scale[o]! - w.data[o * 4 + k]!)).toBeLessThanOrEqual(scale[o]! / 2 + 1e-9);
    expect(q[0 * 3 + 0]).toBe(64);
    expect(q[1 * 3 + 0]).toBe(-127);
    expect(q[3 * 3 + 2]).toBe(127);
  });
});

const SHAPES: [string, SyntheticDims][] = [
  ['erf GELU, 3 classes', { D: 32, layers: 2, heads: 4, mlp: 64, classes: 3, P: 4, size: [16, 16] }],
  ['tanh GELU, non-square grid', { D: 24, layers: 2, heads: 3, mlp: 48, classes: 5, P: 4, size: [12, 20], act: 'gelu_tanh' }],
  ['headless, no qkv bias, eps 1e-12', { D: 16, layers: 1, heads: 2, mlp: 32, classes: 0, P: 8, size: [16, 24], qkvBias: false, eps: 1e-12 }],
];

describe.skipIf(!ORT)('the ONNX graph against the float64 reference', () => {
  it.each(SHAPES)('%s: fused and plain graphs within 1e-5 at batch 2', async (_, dims) => {
    const model = syntheticModel(dims, 7);
    const [h, w] = dims.size;
    const pixels = sharedFloat32(2 * 3 * h * w);
    xorshiftFill(pixels, 99, -2, 2);
    const ref = forward64(model, pixels, 2);
    const { loadOrt } = await import('../engine/onnx/runtime.js');
    const ort = await loadOrt();
    for (const style of ['fused', 'plain'] as const) {
      const s = await ort.InferenceSession.create(buildOnnxModel(model, { style }), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3 });
      const out = (await s.run({ pixel_values: new ort.Tensor('float32', new Float32Array(pixels), [2, 3, h, w]) })).logits!;
      await s.release();
      expect(out.dims).toEqual([2, dims.classes || dims.D]);
      const cmp = compareArrays(out.data as Float32Array, ref);
      expect(cmp.maxAbsDiff, style).toBeLessThan(1e-5);
    }
  });

  it('the session runs pool batches (SharedArrayBuffer views) and matches the reference', async () => {
    const dims = SHAPES[0]![1];
    const model = syntheticModel(dims, 3);
    const pixels = sharedFloat32(3 * 3 * 16 * 16);
    xorshiftFill(pixels, 5, -2, 2);
    const session = await createSession(model, 'onnx');
    const out = await session.run(pixels, 3);
    await session.dispose();
    expect(compareArrays(out, forward64(model, pixels, 3)).maxAbsDiff).toBeLessThan(1e-5);
  });

  it('int8: a synthetic model stays near the reference, and the graph is int8 where it says', async () => {
    const model = syntheticModel(SHAPES[0]![1], 3);
    const pixels = sharedFloat32(3 * 16 * 16);
    xorshiftFill(pixels, 5, -2, 2);
    const session = await createSession(model, 'onnx', { precision: 'int8' });
    const out = await session.run(pixels, 1);
    await session.dispose();
    const cmp = compareArrays(out, forward64(model, pixels, 1));
    expect(cmp.maxAbsDiff).toBeGreaterThan(1e-5); // quantised, not the fp32 graph
    expect(cmp.maxAbsDiff).toBeLessThan(0.1);
    const bytes = buildOnnxModel(model, { precision: 'int8' });
    const text = new TextDecoder('latin1').decode(bytes);
    expect(text.match(/DynamicQuantizeMatMul/g)!.length).toBeGreaterThanOrEqual(2 * 4 * 2); // 4 GEMMs per block
  });
});

const DEIT = sharedModel(DEIT_TINY, 'the int8 accuracy bar on real photos') ?? '';
describe.skipIf(!ORT || !DEIT)('int8 on the real DeiT-tiny photos', () => {
  it('top-1 equals fp32 on every photo whose fp32 top-2 margin exceeds 0.05', async () => {
    const model = await loadModel(DEIT);
    const fp32 = await createSession(model, 'onnx');
    const int8 = await createSession(model, 'onnx', { precision: 'int8' });
    let checked = 0;
    let maxDiff = 0;
    for await (const input of walkInputs([PHOTOS])) {
      const px = await preprocessImage(input.path, model.config.preprocess);
      const [a, b] = [await fp32.run(px, 1), await int8.run(px, 1)];
      maxDiff = Math.max(maxDiff, compareArrays(b, a).maxAbsDiff);
      const top = softmaxTopK(a, 2);
      if (top[0]!.score - top[1]!.score <= 0.05) continue;
      expect(topK(b, 1)[0], input.path).toBe(top[0]!.index);
      checked++;
    }
    await Promise.all([fp32.dispose(), int8.dispose()]);
    console.log(`int8 vs fp32 on ${checked} photos past the margin: max |logit diff| ${maxDiff.toFixed(3)}`);
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe('without onnxruntime-node', () => {
  const env = { ...process.env, VIT_TEST_ONNXRUNTIME_MODULE: 'onnxruntime-node-not-installed' };
  const vit = join(REPO, 'dist', 'cli', 'vit.js');
  const args = ['compare', '--model', join(REPO, 'test/fixtures/models/timm-tiny'), '--fixture', join(REPO, 'test/fixtures/timm-tiny-224.safetensors')];

  it('--backend onnx fails with one line that says what to install', async () => {
    const r = await run(process.execPath, [vit, ...args, '--backend', 'onnx'], { env }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect('code' in r ? r.code : 0).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`vit: ${ONNX_HINT}\n`);
    expect(ONNX_HINT).toContain('npm install onnxruntime-node');
  });

  it('the default CPU backend falls back to wasm', async () => {
    const r = await run(process.execPath, [vit, ...args], { env });
    expect(r.stdout).toMatch(/^backend {2}wasm /m);
    expect(r.stdout).toMatch(/^PASS/m);
  });

  it.skipIf(!ORT)('with it installed, the default CPU backend is onnx', async () => {
    const r = await run(process.execPath, [vit, ...args]);
    expect(r.stdout).toMatch(/^backend {2}onnx /m);
  });
});

describe.skipIf(!ORT)('feature outputs and distilled DeiT in the ONNX graph', () => {
  const models = [
    ['plain ViT', syntheticModel({ D: 24, layers: 2, heads: 3, mlp: 40, classes: 7, P: 8, size: [16, 24] }, 1)],
    ['distilled DeiT', syntheticModel({ D: 24, layers: 2, heads: 3, mlp: 40, classes: 7, P: 8, size: [16, 24], distilled: true }, 2)],
    ['headless distilled DeiT', syntheticModel({ D: 16, layers: 1, heads: 2, mlp: 32, classes: 0, P: 8, size: [16, 16], distilled: true }, 5)],
  ] as const;
  it.each(models)('%s: logits, cls and mean, fused and plain graphs within 1e-5; int8 within its bar', async (_, model) => {
    const [h, w] = model.config.imageSize;
    const pixels = new Float32Array(2 * 3 * h * w);
    xorshiftFill(pixels, 5, -2, 2);
    const { loadOrt } = await import('../engine/onnx/runtime.js');
    const ort = await loadOrt();
    for (const output of ['logits', 'cls', 'mean'] as const) {
      const ref = forward64(model, pixels, 2, output);
      for (const style of ['fused', 'plain'] as const) {
        const s = await ort.InferenceSession.create(buildOnnxModel(model, { style, output }), { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3 });
        const out = (await s.run({ pixel_values: new ort.Tensor('float32', pixels, [2, 3, h, w]) })).logits!;
        await s.release();
        expect(out.dims).toEqual([2, ref.length / 2]);
        expect(compareArrays(out.data as Float32Array, ref).maxAbsDiff, `${style} ${output}`).toBeLessThan(1e-5);
      }
      const s8 = await createSession(model, 'onnx', { precision: 'int8', output });
      const got = await s8.run(pixels, 2);
      await s8.dispose();
      expect(compareArrays(got, ref, 0.1, 0.1).failing, `int8 ${output}`).toBe(0);
    }
  });
});
