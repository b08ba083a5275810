/**
 * pipeline(): every input kind gives the result the lower-level calls give, in input order; progress; abort
 * (prompt AbortError, no results after it, pipeline still usable); feature extraction against the float64
 * reference; and the README's library example run as written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, preprocessImage } from '../engine/preprocess.js';
import { softmaxTopK } from '../engine/postprocess.js';
import { createSession } from '../engine/session.js';
import { loadModel } from '../loaders/checkpoint.js';
import { forward64 } from '../model/reference.js';
import { tinyRandomModel } from '../model/random.js';
import { pipeline, type ImageClassificationPipeline, type ImageFeatureExtractionPipeline } from '../pipeline/index.js';
import { InferencePool } from '../workers/pool.js';
import { MODELS, PHOTOS, REPO } from './helpers/paths.js';

const MODEL = join(MODELS, 'timm-tiny');
const photos = ['chelsea.png', 'coffee.png', 'orange.jpg'].map((f) => join(PHOTOS, f));

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    try {
      res.end(readFileSync(join(PHOTOS, req.url!.slice(1))));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** Top-k through the five lower-level calls. */
async function direct(file: string, k: number) {
  const m = await loadModel(MODEL);
  const s = await createSession(m, 'cpu');
  try {
    const logits = await s.run(await preprocessImage(file, m.config.preprocess), 1);
    return softmaxTopK(logits, k, m.config.labels).map((e) => ({ label: e.label ?? `LABEL_${e.index}`, score: e.score, index: e.index }));
  } finally {
    await s.dispose();
  }
}

describe('pipeline("image-classification")', () => {
  let classify: ImageClassificationPipeline;
  beforeAll(async () => {
    classify = await pipeline('image-classification', MODEL, { backend: 'cpu', workers: 1, batchSize: 2, topK: 3 });
  }, 60_000);
  afterAll(() => classify.close());

  it('one input in, one result out; the same as the lower-level calls', async () => {
    const want = await direct(photos[0]!, 3);
    expect(want).toHaveLength(3);
    expect(await classify(photos[0]!)).toEqual(want);
    expect(await classify(photos[0]!, { topK: 1 })).toEqual(want.slice(0, 1));
  });

  it('path, file URL, http URL, Buffer, Uint8Array and decoded pixels (RGB, RGBA) give the same result', async () => {
    const file = photos[1]!;
    const bytes = readFileSync(file);
    const img = await decodeImage(file);
    const rgba = new Uint8Array(img.width * img.height * 4);
    for (let i = 0; i < img.width * img.height; i++) rgba.set([...img.data.subarray(i * 3, i * 3 + 3), 7], i * 4);
    const want = await direct(file, 3);
    const got = await classify([
      file,
      pathToFileURL(file),
      `${base}/coffee.png`,
      bytes,
      new Uint8Array(bytes),
      { data: img.data, width: img.width, height: img.height, channels: 3 },
      { data: rgba, width: img.width, height: img.height, channels: 4 },
    ]);
    expect(got).toHaveLength(7);
    for (const r of got) expect(r).toEqual(want);
    expect(bytes.length).toBeGreaterThan(0); // the caller's buffer is not detached
  });

  it('an array or an async iterable: results in input order, progress after each batch', async () => {
    const wants = await Promise.all(photos.map((p) => direct(p, 3)));
    const progress: { done: number; total?: number }[] = [];
    expect(await classify([...photos, photos[0]!], { onProgress: (p) => progress.push(p) })).toEqual([...wants, wants[0]]);
    expect(progress.at(-1)).toEqual({ done: 4, total: 4 });
    async function* gen() {
      for (const p of photos) yield p;
    }
    expect(await classify(gen())).toEqual(wants);
  });

  it('a bad input rejects naming it; a URL that does not answer times out', async () => {
    await expect(classify([photos[0]!, Buffer.from('not an image')])).rejects.toThrow(/input 1: .*/);
    const quick = await pipeline('image-classification', MODEL, { backend: 'cpu', workers: 1, fetchTimeoutMs: 200 });
    try {
      await expect(quick(`${base}/slow`)).rejects.toThrow(/no answer within 200 ms/);
    } finally {
      await quick.close();
    }
  });

  it('abort: AbortError within a second, no results after it, and the pipeline stays usable', async () => {
    const ac = new AbortController();
    const progress: number[] = [];
    async function* endless() {
      for (let i = 0; ; i++) {
        yield photos[i % photos.length]!;
        if (i === 3) setTimeout(() => ac.abort(), 10);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const t0 = performance.now();
    let abortedAt = 0;
    ac.signal.addEventListener('abort', () => (abortedAt = performance.now()));
    const err = await classify(endless(), { signal: ac.signal, onProgress: (p) => progress.push(p.done) }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('AbortError');
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(abortedAt).toBeGreaterThan(t0);
    const seen = progress.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(progress.length).toBe(seen); // nothing reported after the abort
    expect(await classify(photos[2]!)).toEqual(await direct(photos[2]!, 3));
    await expect(classify(photos[0]!, { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
  });

  it('close() during a call rejects it with an AbortError, lets no result out and ends the workers', async () => {
    const p = await pipeline('image-classification', MODEL, { backend: 'wasm', workers: 1, batchSize: 1 });
    const progress: number[] = [];
    const call = p(Array.from({ length: 60 }, (_, i) => photos[i % photos.length]!), { onProgress: (x) => progress.push(x.done) });
    while (!progress.length) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    const [err] = await Promise.all([call.catch((e: Error) => e), p.close()]);
    expect((err as Error).name).toBe('AbortError');
    expect(performance.now() - t0).toBeLessThan(5000);
    const seen = progress.length;
    expect(seen).toBeLessThan(60);
    await new Promise((r) => setTimeout(r, 300));
    expect(progress.length).toBe(seen);
    await expect(p(photos[0]!)).rejects.toThrow(/closed/);
  }, 60_000);
});

describe('InferencePool operations take an AbortSignal', () => {
  it('an abort rejects at once with an AbortError; the pool stays usable', async () => {
    const model = tinyRandomModel(3);
    const pool = new InferencePool({ model, backend: 'cpu', workers: 1 });
    try {
      await pool.ready();
      const [h, w] = model.config.imageSize;
      const px = (n: number) => new Float32Array(n * 3 * h * w).fill(0.5);
      const ac = new AbortController();
      const slow = pool.forward(px(64), 64, ac.signal);
      const t0 = performance.now();
      ac.abort();
      const err = await slow.catch((e: Error) => e);
      expect((err as Error).name).toBe('AbortError');
      expect(performance.now() - t0).toBeLessThan(100);
      await expect(pool.outputs([photos[0]!], AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
      await expect(pool.classify([photos[0]!], 3, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
      const r = await pool.forward(px(1), 1);
      expect(r.logits).toHaveLength(model.config.numClasses);
      expect(Array.from(r.logits).every(Number.isFinite)).toBe(true);
    } finally {
      await pool.close();
    }
  }, 60_000);
});

describe('InferencePool.close()', () => {
  it('disposes every worker\'s session before it ends the workers', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'vit-close-')), 'close.log');
    process.env.VIT_TEST_CLOSE_LOG = log; // workers copy the environment when they start
    const model = tinyRandomModel(3);
    const pool = new InferencePool({ model, backend: 'cpu', workers: 2 });
    delete process.env.VIT_TEST_CLOSE_LOG;
    try {
      await pool.ready();
      const [h, w] = model.config.imageSize;
      const r = await pool.forward(new Float32Array(2 * 3 * h * w).fill(0.25), 2);
      expect(r.logits).toHaveLength(2 * model.config.numClasses);
    } finally {
      await pool.close();
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(new Set(lines).size).toBe(2);
    for (const l of lines) expect(l).toMatch(/^worker \d+: cpu session disposed$/);
  }, 60_000);
});

describe('pipeline("image-feature-extraction")', () => {
  let embed: ImageFeatureExtractionPipeline;
  afterAll(() => embed?.close());

  it('cls and mean features equal the float64 reference; normalize gives unit vectors', async () => {
    const m = await loadModel(MODEL);
    const px = await preprocessImage(photos[0]!, m.config.preprocess);
    for (const pool of ['cls', 'mean'] as const) {
      embed = await pipeline('image-feature-extraction', MODEL, { backend: 'cpu', workers: 1, pool });
      const f = await embed(photos[0]!);
      expect(f).toBeInstanceOf(Float32Array);
      expect(f.length).toBe(embed.dim);
      const ref = forward64(m, px, 1, pool);
      for (let i = 0; i < f.length; i++) expect(Math.abs(f[i]! - ref[i]!)).toBeLessThan(1e-4 + 1e-4 * Math.abs(ref[i]!));
      await embed.close();
    }
    embed = await pipeline('image-feature-extraction', MODEL, { backend: 'cpu', workers: 1, normalize: true });
    const [a, b] = await embed([photos[0]!, photos[1]!]);
    for (const v of [a!, b!]) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
  }, 60_000);
});

describe('README library example', () => {
  it('runs as written (the model path swapped for the committed tiny fixture)', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const block = /<!-- library-example -->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'README.md has a ```js block after <!-- library-example -->').toBeTruthy();
    const code = block!.replaceAll("'google/vit-base-patch16-224'", JSON.stringify(MODEL)).replaceAll("'cat.jpg'", JSON.stringify(photos[0])).replaceAll("'dog.png'", JSON.stringify(photos[1]));
    const file = join(REPO, `.readme-example-${process.pid}.mjs`);
    writeFileSync(file, code);
    try {
      const out = execFileSync(process.execPath, [file], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
      const lines = out.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(out).toMatch(/"label":/);
      expect(out).toMatch(/features: 96 values/);
    } finally {
      rmSync(file, { force: true });
    }
  }, 120_000);
});
