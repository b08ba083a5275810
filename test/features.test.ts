/**
 * Feature outputs ('cls', 'mean') and distilled DeiT, on every backend that runs here, against the float64
 * reference (model/reference.ts) at atol = rtol = 1e-4; checkpoints of both formats loaded from disk; the
 * PyTorch feature fixtures from scripts/make-fixtures.py when they are present (skipped, saying so, when not).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../dev/safetensors-encode.js';
import { syntheticModel } from '../dev/synthetic.js';
import { compareArrays as cmpArrays } from '../engine/compare.js';
import { ortAvailable } from '../engine/onnx/runtime.js';
import { createSession } from '../engine/session.js';
import { loadModel, withImageSize } from '../loaders/checkpoint.js';
import { readSafetensors } from '../loaders/safetensors/read.js';
import { forward64, linear64 } from '../model/reference.js';
import { outputWidth, type ModelOutput } from '../model/shapes.js';
import type { ViTModel } from '../model/weights.js';
import { randomArray } from '../util/random.js';
import { FIXTURES, MODELS } from './helpers/paths.js';

/** compareArrays with a pass flag: no element outside the tolerance. */
const compareArrays = (a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number) => {
  const c = cmpArrays(a, b, atol, rtol);
  return { ...c, pass: c.failing === 0 };
};

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;
const OUTPUTS: ModelOutput[] = ['logits', 'cls', 'mean'];

function pixelsFor(m: ViTModel, batch: number, seed = 7): Float32Array {
  const [h, w] = m.config.imageSize;
  return randomArray(batch * 3 * h * w, seed, 2);
}

async function checkBackend(m: ViTModel, backend: 'cpu' | 'wasm' | 'onnx', batch = 2) {
  const px = pixelsFor(m, batch);
  for (const output of OUTPUTS) {
    const s = await createSession(m, backend, { output });
    try {
      const got = await s.run(px, batch);
      const want = forward64(m, px, batch, output);
      expect(got.length).toBe(batch * outputWidth(m.config, output));
      const cmp = compareArrays(got, want, 1e-4, 1e-4);
      expect(cmp.pass, `${m.source} ${backend} ${output}: max|diff| ${cmp.maxAbsDiff}`).toBe(true);
    } finally {
      await s.dispose();
    }
  }
}

describe('float64 reference: features and distilled heads', () => {
  it('distilled logits are the average of the two heads: with headDist = head they are head(cls features)', () => {
    const m = syntheticModel({ D: 16, layers: 2, heads: 2, mlp: 32, classes: 5, P: 8, size: [16, 24], distilled: true }, 3);
    const w = m.weights;
    const same: ViTModel = { ...m, weights: { ...w, headDist: w.head } };
    const px = pixelsFor(m, 2);
    const cls = forward64(same, px, 2, 'cls');
    const expected = linear64(cls, w.head!.weight.data, w.head!.bias!.data, 2, 16, 5);
    const cmp = compareArrays(forward64(same, px, 2, 'logits'), expected, 1e-9, 1e-9);
    expect(cmp.pass, `max|diff| ${cmp.maxAbsDiff}`).toBe(true);
    // With its own headDist the logits differ from head(cls features).
    expect(compareArrays(forward64(m, px, 2, 'logits'), expected, 1e-6, 0).pass).toBe(false);
  });

  it('mean pooling covers the patch tokens only: it changes with the patches, cls does not depend on the pooling', () => {
    const m = syntheticModel({ D: 16, layers: 1, heads: 2, mlp: 32, classes: 0, P: 8, size: [16, 16] }, 4);
    const px = pixelsFor(m, 1);
    const mean = forward64(m, px, 1, 'mean');
    const cls = forward64(m, px, 1, 'cls');
    expect(compareArrays(mean, cls, 1e-6, 0).pass).toBe(false);
    // Headless 'logits' are the class-token features.
    expect(compareArrays(forward64(m, px, 1, 'logits'), cls, 0, 0).pass).toBe(true);
  });
});

const ORT = await ortAvailable();
if (!ORT) console.warn('test/features.test.ts: onnx backend skipped: onnxruntime-node is not installed');

describe('CPU backends (tfjs, onnx): logits, cls and mean features vs the float64 reference', () => {
  const plain = syntheticModel({ D: 24, layers: 2, heads: 3, mlp: 40, classes: 7, P: 8, size: [16, 24] }, 1);
  const distilled = syntheticModel({ D: 24, layers: 2, heads: 3, mlp: 40, classes: 7, P: 8, size: [16, 24], distilled: true }, 2);
  const headlessDistilled = syntheticModel({ D: 16, layers: 1, heads: 2, mlp: 32, classes: 0, P: 8, size: [16, 16], distilled: true }, 5);
  for (const backend of ['cpu', 'wasm', ...(ORT ? (['onnx'] as const) : [])] as const) {
    it(`${backend}: plain ViT`, () => checkBackend(plain, backend), 60_000);
    it(`${backend}: distilled DeiT`, () => checkBackend(distilled, backend), 60_000);
    it(`${backend}: headless distilled DeiT`, () => checkBackend(headlessDistilled, backend, 1), 60_000);
    it(`${backend}: distilled DeiT at another size (2 prefix tokens kept by the resampling)`, async () => {
      const big = withImageSize(distilled, [24, 32]);
      expect(big.weights.pos.shape).toEqual([1, 2 + 3 * 4, 24]);
      expect(big.weights.pos.data.subarray(0, 48)).toEqual(distilled.weights.pos.data.subarray(0, 48));
      await checkBackend(big, backend);
    }, 60_000);
  }
});

/** The committed timm-tiny made a distilled DeiT: dist_token, head_dist, one more position row. */
async function distilledTimm(): Promise<{ dir: string; tensors: Tensors }> {
  const dir = mkdtempSync(join(tmpdir(), 'vit-deit-timm-'));
  const { tensors } = await readSafetensors(join(MODELS, 'timm-tiny', 'model.safetensors'));
  const t = tensors as Tensors;
  const pos = t.pos_embed!;
  const D = 96;
  const np = pos.data.length / D;
  const newPos = new Float32Array((np + 1) * D);
  newPos.set(pos.data.subarray(0, D));
  newPos.set(randomArray(D, 11, 0.5), D);
  newPos.set(pos.data.subarray(D), 2 * D);
  t.pos_embed = { shape: [1, np + 1, D], data: newPos };
  t.dist_token = { shape: [1, 1, D], data: randomArray(D, 12, 0.5) };
  t['head_dist.weight'] = { shape: [10, D], data: randomArray(10 * D, 13, 0.1) };
  t['head_dist.bias'] = { shape: [10], data: randomArray(10, 14, 0.1) };
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t));
  const cfg = JSON.parse(readFileSync(join(MODELS, 'timm-tiny', 'config.json'), 'utf8')) as Record<string, unknown>;
  cfg.architecture = 'deit_tiny_distilled_patch16_224';
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  return { dir, tensors: t };
}

/** The same weights as an HF DeiTForImageClassificationWithTeacher. */
function asHfDeit(t: Tensors): string {
  const dir = mkdtempSync(join(tmpdir(), 'vit-deit-hf-'));
  const D = 96;
  const out: Tensors = {};
  const e = 'deit.embeddings.';
  out[`${e}cls_token`] = t.cls_token!;
  out[`${e}distillation_token`] = t.dist_token!;
  out[`${e}position_embeddings`] = t.pos_embed!;
  out[`${e}patch_embeddings.projection.weight`] = t['patch_embed.proj.weight']!;
  out[`${e}patch_embeddings.projection.bias`] = t['patch_embed.proj.bias']!;
  for (let i = 0; i < 3; i++) {
    const b = `blocks.${i}.`;
    const l = `deit.encoder.layer.${i}.`;
    const qkvW = t[`${b}attn.qkv.weight`]!.data;
    const qkvB = t[`${b}attn.qkv.bias`]!.data;
    ['query', 'key', 'value'].forEach((n, j) => {
      out[`${l}attention.attention.${n}.weight`] = { shape: [D, D], data: qkvW.slice(j * D * D, (j + 1) * D * D) };
      out[`${l}attention.attention.${n}.bias`] = { shape: [D], data: qkvB.slice(j * D, (j + 1) * D) };
    });
    const map: [string, string][] = [['norm1', 'layernorm_before'], ['norm2', 'layernorm_after'], ['attn.proj', 'attention.output.dense'], ['mlp.fc1', 'intermediate.dense'], ['mlp.fc2', 'output.dense']];
    for (const [from, to] of map) for (const f of ['weight', 'bias']) out[`${l}${to}.${f}`] = t[`${b}${from}.${f}`]!;
  }
  for (const f of ['weight', 'bias']) {
    out[`deit.layernorm.${f}`] = t[`norm.${f}`]!;
    out[`cls_classifier.${f}`] = t[`head.${f}`]!;
    out[`distillation_classifier.${f}`] = t[`head_dist.${f}`]!;
  }
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(out));
  const id2label = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [String(i), `c${i}`]));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'deit', architectures: ['DeiTForImageClassificationWithTeacher'], hidden_size: D, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 192, image_size: 224, patch_size: 16, layer_norm_eps: 1e-6, id2label }),
  );
  return dir;
}

describe('distilled DeiT checkpoints (timm and HF key names)', () => {
  it('load to the same model, run on cpu as the reference does, and resample 2 prefix tokens', async () => {
    const { dir, tensors } = await distilledTimm();
    const timm = await loadModel(dir);
    const hf = await loadModel(asHfDeit(tensors));
    expect(timm.config.distilled).toBe(true);
    expect(hf.config.distilled).toBe(true);
    expect(hf.config.architecture).toBe('DeiTForImageClassificationWithTeacher');
    expect(timm.weights.dist!.data).toEqual(tensors.dist_token!.data);
    expect(hf.weights.headDist!.weight.data).toEqual(tensors['head_dist.weight']!.data);
    const px = pixelsFor(timm, 1);
    const a = forward64(timm, px, 1);
    const b = forward64(hf, px, 1);
    expect(compareArrays(a, b, 1e-9, 1e-9).pass).toBe(true);
    await checkBackend(timm, 'cpu', 1);
    const at = await loadModel(dir, { imageSize: [160, 192] });
    expect(at.weights.pos.shape).toEqual([1, 2 + 10 * 12, 96]);
    await checkBackend(at, 'cpu', 1);
  }, 120_000);

  it('refuses a distilled architecture name without a dist_token, and an HF DeiT with one head', async () => {
    const { dir, tensors } = await distilledTimm();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete tensors.dist_token;
    const dir2 = mkdtempSync(join(tmpdir(), 'vit-deit-bad-'));
    writeFileSync(join(dir2, 'model.safetensors'), encodeSafetensors(tensors));
    writeFileSync(join(dir2, 'config.json'), JSON.stringify(cfg));
    await expect(loadModel(dir2)).rejects.toThrow(/with "distilled" in its name but no dist_token/);
  });
});

/**
 * PyTorch feature fixtures (scripts/make-fixtures.py, on the GPU machine): `<model>-features-224.safetensors`
 * with pixel_values, cls [N, D] (HF ViTModel last_hidden_state[:, 0] / timm forward_head(pre_logits=True)) and
 * mean [N, D]; `deit-distilled-tiny-224.safetensors` with pixel_values and logits of a distilled model.
 */
describe('PyTorch feature and distilled fixtures (atol = rtol = 1e-4)', () => {
  for (const model of ['hf-tiny', 'timm-tiny']) {
    const file = join(FIXTURES, `${model}-features-224.safetensors`);
    const present = existsSync(file);
    if (!present) console.warn(`test/features.test.ts: skipping ${model} PyTorch features: ${file} is absent (scripts/make-fixtures.py makes it)`);
    it.skipIf(!present)(`${model}: cls and mean features on cpu and the reference`, async () => {
      const { tensors } = await readSafetensors(file);
      const m = await loadModel(join(MODELS, model));
      const px = tensors.pixel_values!;
      const n = px.shape[0]!;
      for (const output of ['cls', 'mean'] as const) {
        const want = tensors[output]!.data;
        expect(compareArrays(forward64(m, px.data, n, output), want, 1e-4, 1e-4).pass).toBe(true);
        const s = await createSession(m, 'cpu', { output });
        try {
          expect(compareArrays(await s.run(px.data, n), want, 1e-4, 1e-4).pass).toBe(true);
        } finally {
          await s.dispose();
        }
      }
    });
  }
  const deitDir = join(MODELS, 'deit-distilled-tiny');
  const deitFixture = join(FIXTURES, 'deit-distilled-tiny-224.safetensors');
  const deitPresent = existsSync(deitDir) && existsSync(deitFixture);
  if (!deitPresent) console.warn(`test/features.test.ts: skipping the PyTorch distilled DeiT check: ${deitDir} or ${deitFixture} is absent (scripts/make-fixtures.py makes them)`);
  it.skipIf(!deitPresent)('distilled DeiT: logits and features on cpu', async () => {
    const { tensors } = await readSafetensors(deitFixture);
    const m = await loadModel(deitDir);
    const px = tensors.pixel_values!;
    const n = px.shape[0]!;
    for (const output of ['logits', 'cls', 'mean'] as const) {
      const want = tensors[output]!.data;
      const s = await createSession(m, 'cpu', { output });
      try {
        expect(compareArrays(await s.run(px.data, n), want, 1e-4, 1e-4).pass, output).toBe(true);
      } finally {
        await s.dispose();
      }
    }
  });
});
