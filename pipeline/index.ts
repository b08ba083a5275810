/**
 * pipeline(): one call from a model to results, as transformers.js users know it. A pipeline owns a worker pool
 * (any backend) and batches its inputs inside; results come back in input order.
 *
 *   const classify = await pipeline('image-classification', 'google/vit-base-patch16-224');
 *   const [top] = await classify('cat.jpg', { topK: 3 });          // [{ label, score, index }, ...]
 *   await classify.close();
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AutoChoice, BackendRequest } from '../engine/auto.js';
import { softmaxTopK } from '../engine/postprocess.js';
import type { BackendName, Precision } from '../engine/types.js';
import { resolveModel } from '../loaders/hub.js';
import { openModel } from '../loaders/index.js';
import { isRandomSpec } from '../loaders/random.js';
import { outputWidth, type ModelOutput } from '../model/shapes.js';
import type { ViTModel } from '../model/weights.js';
import { abortError, startPool, type InferencePool } from '../workers/pool.js';
import type { WorkerInput } from '../workers/protocol.js';
import { provenance, type Provenance } from './provenance.js';

export type { Provenance } from './provenance.js';

/** Decoded pixels: interleaved 8-bit, row-major; channels 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** A file path, an http(s) or file: URL, encoded image bytes, or decoded pixels. */
export type ImageInput = string | URL | Uint8Array | RawImage;

export interface Classification {
  label: string;
  score: number;
  index: number;
}

export interface PipelineOptions {
  /**
   * 'auto' (default): cuda where it starts, else webgpu on a hardware adapter, else the best CPU backend
   * (onnx where onnxruntime-node loads, else wasm; `backendChoice` says which and why); or 'onnx', 'wasm',
   * 'cpu', 'tensorflow', 'webgpu', 'cuda'.
   */
  backend?: BackendRequest;
  /** Default: the backend's own. webgpu 'fp32' or 'fp16'; cuda 'fp32', 'tf32', 'bf16' (its default), 'fp16'; onnx 'fp32' or 'int8'. */
  precision?: Precision;
  /** Worker threads (default: CPU count on CPU backends, 1 on GPU backends). */
  workers?: number;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Run at another resolution, [height, width] or one side (position embedding resampled once). */
  imageSize?: number | [number, number];
  /** GPU adapter index (webgpu) or device ordinal (cuda); `device` is the same. */
  gpuIndex?: number;
  device?: number;
  /** Milliseconds to fetch one URL input (default 30000). */
  fetchTimeoutMs?: number;
}

export interface ClassificationOptions extends PipelineOptions {
  /** Classes per image (default 5). */
  topK?: number;
}

export interface FeatureOptions extends PipelineOptions {
  /** 'cls' (default): the final-norm class token; 'mean': the mean of the final-norm patch tokens. */
  pool?: 'cls' | 'mean';
  /** Scale each feature vector to unit L2 norm (default false). */
  normalize?: boolean;
}

export interface CallOptions {
  /** Aborting stops taking inputs, lets no further results out and rejects at once with an AbortError; the pipeline stays usable. */
  signal?: AbortSignal;
  /** Called after each batch with the inputs done so far and the total when known. */
  onProgress?: (p: { done: number; total?: number }) => void;
}

export type Inputs = ImageInput | ImageInput[] | Iterable<ImageInput> | AsyncIterable<ImageInput>;

interface PipelineBase {
  readonly model: ViTModel;
  /** The backend that runs (under 'auto', the one chosen). */
  readonly backend: BackendName;
  /** Under 'auto': what was chosen and why each faster backend was skipped. */
  readonly backendChoice?: AutoChoice;
  /**
   * Rejects calls still running with an AbortError, waits for the batches in workers, then ends the workers
   * (their sessions, host copies and device buffers go with them).
   */
  close(): Promise<void>;
}

export interface ImageClassificationPipeline extends PipelineBase {
  (input: ImageInput, options?: CallOptions & { topK?: number }): Promise<Classification[]>;
  (inputs: ImageInput[] | Iterable<ImageInput> | AsyncIterable<ImageInput>, options?: CallOptions & { topK?: number }): Promise<Classification[][]>;
}

export interface ImageFeatureExtractionPipeline extends PipelineBase {
  /** Feature size (the model's hidden size). */
  readonly dim: number;
  readonly pool: 'cls' | 'mean';
  readonly normalize: boolean;
  /** What produced these vectors (model and weights, preprocessing, backend, precision, engine version). */
  readonly provenance: Provenance;
  (input: ImageInput, options?: CallOptions): Promise<Float32Array>;
  (inputs: ImageInput[] | Iterable<ImageInput> | AsyncIterable<ImageInput>, options?: CallOptions): Promise<Float32Array[]>;
}

export function pipeline(task: 'image-classification', model: string | ViTModel, options?: ClassificationOptions): Promise<ImageClassificationPipeline>;
export function pipeline(task: 'image-feature-extraction', model: string | ViTModel, options?: FeatureOptions): Promise<ImageFeatureExtractionPipeline>;
export async function pipeline(
  task: 'image-classification' | 'image-feature-extraction',
  model: string | ViTModel,
  options: ClassificationOptions & FeatureOptions = {},
): Promise<ImageClassificationPipeline | ImageFeatureExtractionPipeline> {
  if (task !== 'image-classification' && task !== 'image-feature-extraction') {
    throw new Error(`pipeline: unknown task "${String(task)}" (image-classification, image-feature-extraction)`);
  }
  const pool = options.pool ?? 'cls';
  if (pool !== 'cls' && pool !== 'mean') throw new Error(`pipeline: pool must be 'cls' or 'mean', got "${String(pool)}"`);
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`pipeline: batchSize must be a positive integer, got ${batchSize}`);
  const size = options.imageSize === undefined ? undefined : typeof options.imageSize === 'number' ? ([options.imageSize, options.imageSize] as [number, number]) : options.imageSize;
  const spec = typeof model === 'string' ? model : model.source;
  // The checkpoint's local path (a hub snapshot, a directory), for the provenance's revision and sha256.
  const resolved = typeof model === 'string' ? (isRandomSpec(model) ? undefined : await resolveModel(model)) : existsSync(model.source) ? model.source : undefined;
  const m = typeof model === 'string' ? await openModel(resolved ?? model, { imageSize: size }) : model;
  if (typeof model === 'string') m.source = model;
  const output: ModelOutput = task === 'image-classification' ? 'logits' : pool;
  const { pool: workers, choice } = await startPool(options.backend ?? 'auto', (backend) => ({
    model: m,
    backend,
    workers: options.workers,
    sessionOptions: { precision: options.precision, gpuIndex: options.gpuIndex ?? options.device, output },
  }));
  const backend = workers.options.backend;
  const runner = new Runner(workers, batchSize, options.fetchTimeoutMs ?? 30_000);
  const base = { model: m, backend, ...(choice ? { backendChoice: choice } : {}), close: () => runner.close() };
  if (task === 'image-classification') {
    const defaultTopK = options.topK ?? 5;
    const k = Math.min(outputWidth(m.config), defaultTopK);
    const labels = m.config.labels;
    const fn = (input: Inputs, o: CallOptions & { topK?: number } = {}) =>
      runner.call(input, o, (row) => softmaxTopK(row, o.topK ?? k, labels).map((e) => ({ label: e.label ?? `LABEL_${e.index}`, score: e.score, index: e.index })));
    return Object.assign(fn, base) as ImageClassificationPipeline;
  }
  const normalize = options.normalize ?? false;
  let prov: Provenance;
  try {
    prov = await provenance({ spec, resolved, model: m, pool, normalize, backend, requested: choice?.requested, precision: options.precision });
  } catch (e) {
    await runner.close();
    throw e;
  }
  const fn = (input: Inputs, o: CallOptions = {}) => runner.call(input, o, (row) => (normalize ? l2normalize(row) : row));
  return Object.assign(fn, base, { dim: m.config.hiddenSize, pool, normalize, provenance: prov }) as ImageFeatureExtractionPipeline;
}

/** Row scaled to unit L2 norm (a zero row stays zero). */
export function l2normalize(row: Float32Array): Float32Array {
  let s = 0;
  for (const v of row) s += v * v;
  const n = Math.sqrt(s);
  return n > 0 ? row.map((v) => v / n) : row;
}

function isRawImage(x: unknown): x is RawImage {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x && 'channels' in x;
}

const isSingle = (x: unknown): x is ImageInput => typeof x === 'string' || x instanceof URL || x instanceof Uint8Array || isRawImage(x);

/** Batches inputs over the pool, in order, with at most pool.concurrency batches in flight. */
class Runner {
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Aborts the calls still running when close() is called. */
  private readonly closing = new AbortController();
  constructor(
    private readonly pool: InferencePool,
    private readonly batchSize: number,
    private readonly fetchTimeoutMs: number,
  ) {}

  async call<T>(input: Inputs, o: CallOptions, post: (row: Float32Array) => T): Promise<T | T[]> {
    if (this.closed) throw new Error('pipeline: closed');
    const single = isSingle(input);
    const items: Iterable<ImageInput> | AsyncIterable<ImageInput> = single ? [input] : (input as Iterable<ImageInput>);
    const total = Array.isArray(items) ? items.length : undefined;
    const signal = o.signal ? AbortSignal.any([o.signal, this.closing.signal]) : this.closing.signal;
    o = { ...o, signal };
    if (signal.aborted) throw abortError(signal);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortError(signal!));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      const out = await Promise.race([this.runAll(items, total, o, post), aborted]);
      return single ? out[0]! : out;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  private async runAll<T>(items: Iterable<ImageInput> | AsyncIterable<ImageInput>, total: number | undefined, o: CallOptions, post: (row: Float32Array) => T): Promise<T[]> {
    const results: T[] = [];
    const pending: Promise<void>[] = [];
    let done = 0;
    let index = 0;
    let batch: { at: number; input: Promise<WorkerInput> }[] = [];
    const submit = () => {
      const b = batch;
      batch = [];
      const p = (async () => {
        const inputs = await Promise.all(b.map((x) => x.input));
        if (o.signal?.aborted) return;
        const rows = await this.track(this.pool.outputs(inputs, o.signal));
        if (o.signal?.aborted) return; // no results after an abort
        rows.forEach((r, i) => {
          if ('error' in r) throw new Error(`input ${b[i]!.at}: ${r.error}`);
          results[b[i]!.at] = post(r.row);
        });
        done += b.length;
        o.onProgress?.({ done, total });
      })();
      p.catch(() => undefined); // rejections surface through Promise.all below
      pending.push(p);
      return p;
    };
    const window: Promise<void>[] = [];
    for await (const item of items as AsyncIterable<ImageInput>) {
      if (o.signal?.aborted) break;
      const input = this.toWorkerInput(item, index, o.signal);
      input.catch(() => undefined);
      batch.push({ at: index++, input });
      if (batch.length === this.batchSize) {
        window.push(submit());
        // Bounded: wait for the oldest batch before taking more inputs.
        if (window.length >= this.pool.concurrency) await window.shift();
      }
    }
    if (batch.length) submit();
    await Promise.all(pending);
    return results;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const t = p.catch(() => undefined);
    this.inFlight.add(t);
    void t.then(() => this.inFlight.delete(t));
    return p;
  }

  /** A path stays a path (the worker reads it); a URL is fetched here; bytes and pixels are sent as they are. */
  private async toWorkerInput(x: ImageInput, at: number, signal?: AbortSignal): Promise<WorkerInput> {
    if (typeof x === 'string' && /^https?:\/\//i.test(x)) return this.fetchBytes(new URL(x), signal);
    if (typeof x === 'string') return x.startsWith('file:') ? fileURLToPath(x) : x;
    if (x instanceof URL) {
      if (x.protocol === 'file:') return fileURLToPath(x);
      if (x.protocol === 'http:' || x.protocol === 'https:') return this.fetchBytes(x, signal);
      throw new Error(`input ${at}: URL scheme ${x.protocol} (http, https or file)`);
    }
    if (x instanceof Uint8Array) return { bytes: x };
    if (isRawImage(x)) {
      const data = x.data instanceof Uint8Array ? x.data : new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
      return { pixels: data, width: x.width, height: x.height, channels: x.channels };
    }
    throw new Error(`input ${at}: not an image input (a path, URL, Uint8Array/Buffer of encoded bytes, or { data, width, height, channels })`);
  }

  private async fetchBytes(url: URL, signal?: AbortSignal): Promise<WorkerInput> {
    const timeout = AbortSignal.timeout(this.fetchTimeoutMs);
    const s = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const r = await fetch(url, { signal: s, redirect: 'follow' });
      if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}`);
      return { bytes: new Uint8Array(await r.arrayBuffer()), name: url.href };
    } catch (e) {
      const why = timeout.aborted ? `no answer within ${this.fetchTimeoutMs} ms` : (e as Error).message;
      throw new Error(`${url.href}: ${why}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new DOMException('pipeline: closed', 'AbortError'));
    await Promise.all(this.inFlight);
    await this.pool.close();
  }
}
