/** Checkpoint detection, key maps and refusals, on real checkpoints copied and altered in a temp dir. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archSizes } from '../loaders/architectures.js';
import { inspectCheckpoint, loadModel, withImageSize } from '../loaders/checkpoint.js';
import { parameterCount, weightSlots, weightTensors } from '../model/weights.js';
import { parseImageSize } from '../loaders/index.js';
import { randomModel } from '../loaders/random.js';
import { readSafetensors } from '../loaders/safetensors/read.js';
import { encodeSafetensors } from '../dev/safetensors-encode.js';

const TIMM = 'test/fixtures/models/timm-tiny';
const HF = 'test/fixtures/models/hf-tiny';

/** Copy a checkpoint with its tensors and config.json edited. */
async function altered(
  src: string,
  edit: (t: Record<string, { shape: number[]; data: Float32Array }>) => void,
  editConfig: (c: Record<string, unknown>) => void = () => {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vit-ckpt-'));
  const { tensors } = await readSafetensors(join(src, 'model.safetensors'));
  edit(tensors);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  editConfig(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

describe('format detection and config', () => {
  it('reads HF sizes, eps and labels from config.json', async () => {
    const m = await loadModel(HF);
    expect(m.config).toMatchObject({ format: 'hf', hiddenSize: 96, numLayers: 3, numHeads: 4, mlpDim: 192, numClasses: 10, layerNormEps: 1e-12, posEmbedResample: 'hf' });
    expect(m.config.labels?.[3]).toBe('hf-class-3');
    expect(m.config.preprocess).toMatchObject({ mode: 'resize', interpolation: 'bilinear', size: [224, 224], mean: [0.5, 0.5, 0.5] });
    // q, k, v stacked along the output dimension in that order
    const { tensors } = await readSafetensors(join(HF, 'model.safetensors'));
    const qkv = m.weights.blocks[1]!.qkv.weight.data;
    const D = 96 * 96;
    expect(qkv.subarray(D, 2 * D)).toEqual(tensors['vit.encoder.layer.1.attention.attention.key.weight']!.data);
  });

  it('reads timm sizes from the architecture name with model_args overriding', async () => {
    const m = await loadModel(TIMM);
    expect(m.config).toMatchObject({ format: 'timm', hiddenSize: 96, numLayers: 3, numHeads: 4, mlpDim: 192, layerNormEps: 1e-6, posEmbedResample: 'timm' });
    expect(m.config.preprocess).toMatchObject({ mode: 'resize-crop', cropPct: 0.9, interpolation: 'bicubic' });
  });

  it('maps timm architecture names to their sizes', () => {
    expect(archSizes('vit_base_patch16_224')).toEqual({ embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4, patchSize: 16, imgSize: 224 });
    expect(archSizes('vit_large_patch32_384.orig_in21k_ft_in1k')).toMatchObject({ embedDim: 1024, depth: 24, numHeads: 16, patchSize: 32, imgSize: 384 });
    expect(archSizes('deit-small-patch16-224')).toMatchObject({ embedDim: 384, numHeads: 6 });
    expect(archSizes('deit_large_patch16_224')).toBeUndefined();
    expect(archSizes('resnet50')).toBeUndefined();
  });

  it('gives 1000-class timm checkpoints the ImageNet names', () => {
    const m = randomModel('random:deit-tiny-patch16-224');
    expect(m.config.labels?.[285]).toBe('Egyptian cat');
  });
});

describe('refusals name the file and the problem', () => {
  it('missing tensor', async () => {
    const dir = await altered(TIMM, (t) => delete t['blocks.1.mlp.fc1.bias']);
    await expect(loadModel(dir)).rejects.toThrow(/model\.safetensors: missing 1 tensor.*blocks\.1\.mlp\.fc1\.bias/);
  });
  it('unexpected tensor', async () => {
    const dir = await altered(TIMM, (t) => (t['blocks.0.extra.weight'] = { shape: [2], data: new Float32Array(2) }));
    await expect(loadModel(dir)).rejects.toThrow(/unexpected 1 tensor.*blocks\.0\.extra\.weight/);
  });
  it('a non-finite weight in a stacked slot names its own checkpoint tensor and element', async () => {
    const key = 'vit.encoder.layer.1.attention.attention.value.bias';
    const dir = await altered(HF, (t) => (t[key]!.data[5] = Infinity));
    await expect(loadModel(dir)).rejects.toThrow(`model.safetensors: tensor "${key}" holds a non-finite value (Infinity at element 5)`);
  });
  it('shape that does not fit the config', async () => {
    const dir = await altered(TIMM, () => {}, (c) => ((c.model_args as Record<string, unknown>).mlp_ratio = 4));
    await expect(loadModel(dir)).rejects.toThrow(/blocks\.0\.mlp\.fc1\.weight has shape \[192, 96\], expected \[384, 96\]/);
  });
  it.each([
    ['a dist_token on a non-distilled architecture', (t: Record<string, { shape: number[]; data: Float32Array }>) => (t.dist_token = { shape: [1, 1, 96], data: new Float32Array(96) }), /unsupported: architecture "vit_tiny_patch16_224" without "distilled" in its name but a dist_token/],
    ['register tokens', (t: Record<string, { shape: number[]; data: Float32Array }>) => (t.reg_token = { shape: [1, 4, 96], data: new Float32Array(384) }), /unsupported: register tokens/],
    ['layer scale', (t: Record<string, { shape: number[]; data: Float32Array }>) => (t['blocks.0.ls1.gamma'] = { shape: [96], data: new Float32Array(96) }), /unsupported: layer scale/],
    ['fc_norm', (t: Record<string, { shape: number[]; data: Float32Array }>) => (t['fc_norm.weight'] = { shape: [96], data: new Float32Array(96) }), /unsupported: fc_norm/],
  ])('%s', async (_name, edit, re) => {
    const dir = await altered(TIMM, edit);
    await expect(loadModel(dir)).rejects.toThrow(re);
  });
  it('average pooling in the config', async () => {
    const dir = await altered(TIMM, () => {}, (c) => (c.global_pool = 'avg'));
    await expect(loadModel(dir)).rejects.toThrow(/unsupported: global_pool "avg"/);
  });
  it('an HF activation other than GELU', async () => {
    const dir = await altered(HF, () => {}, (c) => (c.hidden_act = 'relu'));
    await expect(loadModel(dir)).rejects.toThrow(/unsupported: hidden_act "relu"/);
  });
  it('an unknown timm architecture', async () => {
    const dir = await altered(TIMM, () => {}, (c) => (c.architecture = 'eva02_base_patch14_224'));
    await expect(loadModel(dir)).rejects.toThrow(/unsupported: architecture "eva02_base_patch14_224"/);
  });
  it('a checkpoint that is not a ViT', async () => {
    const dir = await altered(TIMM, (t) => {
      for (const k of Object.keys(t)) if (k.startsWith('patch_embed')) delete t[k];
    });
    await expect(loadModel(dir)).rejects.toThrow(/not a ViT checkpoint/);
  });
  it('a missing directory', async () => {
    await expect(loadModel('/nonexistent/model')).rejects.toThrow(/\/nonexistent\/model/);
  });
});

describe('image sizes', () => {
  it('parses N and HxW', () => {
    expect(parseImageSize('384')).toEqual([384, 384]);
    expect(parseImageSize('224x320')).toEqual([224, 320]);
    expect(() => parseImageSize('big')).toThrow(/expected N or HxW/);
  });
  it('resamples only when the size changes, and refuses sizes off the patch grid', async () => {
    const m = await loadModel(TIMM);
    expect(withImageSize(m, [224, 224])).toBe(m);
    const big = withImageSize(m, [384, 224]);
    expect(big.weights.pos.shape).toEqual([1, 1 + 24 * 14, 96]);
    expect(big.weights.blocks[0]!.qkv.weight).toBe(m.weights.blocks[0]!.qkv.weight);
    expect(() => withImageSize(m, [230, 224])).toThrow(/not a positive multiple of the patch size 16/);
  });
});

describe('random models and inspect', () => {
  it('random weights are deterministic and have the canonical shapes', () => {
    const a = randomModel('random:vit-tiny-patch16-224:10');
    const b = randomModel('random:vit-tiny-patch16-224:10');
    const [ta, tb] = [new Map(weightTensors(a.weights)), new Map(weightTensors(b.weights))];
    expect([...ta.keys()]).toEqual(weightSlots(a.config).map((s) => s.path));
    for (const { path, shape } of weightSlots(a.config)) {
      expect(ta.get(path)!.shape).toEqual(shape);
      const [x, y] = [ta.get(path)!.data, tb.get(path)!.data];
      expect(Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength))).toBe(0);
    }
    expect(randomModel('random:vit-tiny-patch16-224:10', 1).weights.cls.data[0]).not.toBe(a.weights.cls.data[0]);
    expect(() => randomModel('random:resnet50')).toThrow(/unknown architecture/);
  });
  it('inspect counts parameters and dtypes', async () => {
    const info = await inspectCheckpoint('test/fixtures/models/hf-tiny-bf16');
    const m = await loadModel(HF);
    const total = parameterCount(m.weights);
    expect(info.parameters).toBe(total);
    expect(info.dtypes).toEqual({ BF16: info.tensors });
    expect(info.format).toBe('hf');
  });
});
