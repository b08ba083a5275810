/**
 * `vit embed` through the built CLI: the vectors of test/photos with the tiny fixture models against the
 * float64 reference (forward64 on the same preprocessed pixels) within 1e-4, L2 normalisation, and the matrix
 * files (safetensors, npy + index) read back with their shape, row order, errors and provenance.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { preprocessImage } from '../engine/preprocess.js';
import { loadModel } from '../loaders/checkpoint.js';
import { readSafetensors } from '../loaders/safetensors/read.js';
import { forward64 } from '../model/reference.js';
import type { ViTModel } from '../model/weights.js';
import { vit as runVit } from './helpers/cli.js';
import { MODELS, PHOTOS, REPO } from './helpers/paths.js';

const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

/** `vit ...args` with extra environment variables. */
const vit = (args: string[], env: NodeJS.ProcessEnv = {}) => runVit(args, { env });

type Record = { file: string; embedding?: number[]; error?: string };
interface Provenance {
  model: string;
  engineVersion: string;
  weightsSha256?: { [file: string]: string };
  pool: string;
  normalize: boolean;
  dim: number;
  preprocess: { size: number[]; mean: number[]; std: number[]; interpolation: string };
  backend: string;
  precision: string;
}

let dir: string;
const GOOD = ['apple.jpg', 'chelsea.png', 'coffee.png', 'orange.jpg'];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vit-embed-'));
  for (const f of GOOD) copyFileSync(join(PHOTOS, f), join(dir, f));
  writeFileSync(join(dir, 'broken.jpg'), 'not a JPEG\n');
  mkdirSync(join(dir, 'sub'));
  copyFileSync(join(PHOTOS, 'camera.png'), join(dir, 'sub', 'camera.png'));
});
const ORDER = ['apple.jpg', 'broken.jpg', 'chelsea.png', 'coffee.png', 'orange.jpg', 'sub/camera.png'];

/** The float64 reference vector of one image. */
async function reference(m: ViTModel, file: string, pool: 'cls' | 'mean'): Promise<Float64Array> {
  const px = await preprocessImage(join(dir, file), m.config.preprocess);
  return forward64(m, px, 1, pool);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

describe.each([
  ['hf-tiny', 'cls'],
  ['timm-tiny', 'mean'],
  ['hf-tiny', 'mean'],
] as const)('vit embed %s --pool %s', (name, pool) => {
  it('jsonl: provenance line, then one record per input in order; vectors equal forward64 within 1e-4; exit 1 for the bad file', async () => {
    const modelDir = join(MODELS, name);
    const r = await vit(['embed', dir, '--model', modelDir, '--pool', pool, '--workers', '2', '--batch-size', '2', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(1);
    const [head, ...lines] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { provenance?: Provenance } & Record);
    const prov = head!.provenance!;
    const m = await loadModel(modelDir);
    expect(prov).toMatchObject({ model: modelDir, engineVersion: PKG.version, pool, normalize: false, dim: m.config.hiddenSize, backend: 'wasm', precision: 'fp32' });
    expect(prov.preprocess).toMatchObject({ size: m.config.preprocess.size, mean: m.config.preprocess.mean, std: m.config.preprocess.std, interpolation: m.config.preprocess.interpolation });
    expect(Object.values(prov.weightsSha256!)[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(lines.map((l) => l.file)).toEqual(ORDER);
    for (const l of lines) {
      if (l.file === 'broken.jpg') {
        expect(l.error).toMatch(/broken\.jpg/);
        continue;
      }
      const d = maxDiff(l.embedding!, await reference(m, l.file, pool));
      expect(d, `${l.file}: max|diff| ${d}`).toBeLessThan(1e-4);
    }
    expect(r.stderr).toMatch(/vit: 5\/6 embedded, 1 failed/);
  });
});

describe('vit embed: normalisation and matrix outputs', () => {
  const modelDir = join(MODELS, 'hf-tiny');

  it('--normalize gives unit vectors in the direction of the reference', async () => {
    const r = await vit(['embed', join(dir, 'chelsea.png'), join(dir, 'coffee.png'), '--model', modelDir, '--normalize', '--workers', '1']);
    expect(r.code, r.stderr).toBe(0);
    const m = await loadModel(modelDir);
    const lines = r.stdout.trim().split('\n').slice(1).map((l) => JSON.parse(l) as Record);
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(Math.abs(norm(l.embedding!) - 1)).toBeLessThan(1e-6);
      const ref = await reference(m, l.file.slice(dir.length + 1), 'cls');
      const n = norm(ref);
      expect(maxDiff(l.embedding!, Array.from(ref, (x) => x / n))).toBeLessThan(1e-4);
    }
  });

  it('--output FILE.safetensors: embeddings F32 [n, D] of the inputs that worked; files, errors and provenance in __metadata__', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vit-embed-out-')), 'e.safetensors');
    const jsonl = await vit(['embed', dir, '--model', modelDir, '--pool', 'mean', '--workers', '1']);
    const r = await vit(['embed', dir, '--model', modelDir, '--pool', 'mean', '--output', out, '--workers', '2']);
    expect(r.code, r.stderr).toBe(1);
    const { header, tensors } = await readSafetensors(out);
    const e = tensors.embeddings!;
    expect(e.shape).toEqual([5, 96]);
    const meta = header.metadata;
    const files = JSON.parse(meta.files!) as string[];
    expect(files).toEqual(ORDER.filter((f) => f !== 'broken.jpg'));
    expect(JSON.parse(meta.errors!)).toEqual([{ file: 'broken.jpg', error: expect.stringMatching(/broken\.jpg/) }]);
    expect(JSON.parse(meta.provenance!)).toMatchObject({ model: modelDir, pool: 'mean', dim: 96 });
    const byFile = new Map(jsonl.stdout.trim().split('\n').slice(1).map((l) => JSON.parse(l) as Record).map((l) => [l.file, l.embedding]));
    files.forEach((f, i) => expect(maxDiff(e.data.subarray(i * 96, (i + 1) * 96), byFile.get(f)!)).toBe(0));
  });

  it('--output FILE.npy: a float32 [n, D] array and FILE.index.jsonl (provenance, then row or error per input)', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vit-embed-npy-')), 'e.npy');
    const r = await vit(['embed', dir, '--model', modelDir, '--output', out, '--workers', '1']);
    expect(r.code, r.stderr).toBe(1);
    const b = readFileSync(out);
    expect(b.subarray(0, 8).toString('latin1')).toBe('\x93NUMPY\x01\x00');
    const headerLen = b.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    const dict = b.subarray(10, 10 + headerLen).toString('latin1');
    expect(dict).toMatch(/'descr': '<f4', 'fortran_order': False, 'shape': \(5, 96\)/);
    const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + headerLen, b.byteOffset + b.length));
    expect(data.length).toBe(5 * 96);
    const [head, ...index] = readFileSync(out.replace(/\.npy$/, '.index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { provenance?: Provenance; row?: number; file?: string; error?: string });
    expect(head!.provenance).toMatchObject({ model: modelDir, pool: 'cls' });
    expect(index.map((x) => x.file)).toEqual(ORDER);
    expect(index.filter((x) => x.row !== undefined).map((x) => x.row)).toEqual([0, 1, 2, 3, 4]);
    expect(index.find((x) => x.file === 'broken.jpg')!.error).toMatch(/broken\.jpg/);
    const m = await loadModel(modelDir);
    const coffee = index.find((x) => x.file === 'coffee.png')!.row!;
    expect(maxDiff(data.subarray(coffee * 96, (coffee + 1) * 96), await reference(m, 'coffee.png', 'cls'))).toBeLessThan(1e-4);
  });

  it('a matrix to stdout and a missing input are refused before the model loads (exit 2)', async () => {
    const bin = await vit(['embed', dir, '--model', modelDir, '--format', 'npy']);
    expect(bin.code).toBe(2);
    expect(bin.stderr).toMatch(/--format npy is binary: give --output FILE\.npy/);
    // The model is a hub id on an endpoint that does not answer: the input error must come first.
    const missing = await vit(['embed', join(dir, 'nope.jpg'), '--model', 'org/model'], { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: dir, VIT_HUB_RETRIES: '0' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`no such file or directory: ${join(dir, 'nope.jpg')}`);
    expect(missing.stderr).not.toMatch(/resolving/);
  });
});
