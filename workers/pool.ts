/**
 * The worker pool: Piscina threads that each own an inference session. Weights travel once, as views on
 * SharedArrayBuffers (every worker maps the same memory); images are decoded inside the workers.
 *
 * A worker that dies is replaced by Piscina; its batch is split and retried (see classify), so only the input
 * that kills a worker is reported failed. Other batches go on.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ViTModel } from '../model/weights.js';
import { isGpuBackend, type BackendName, type SessionOptions } from '../engine/types.js';
import { startAuto, type AutoChoice, type BackendRequest } from '../engine/auto.js';
import { outputWidth } from '../model/shapes.js';
import type { ClassifyReply, ForwardReply, ForwardTask, OutputReply, PreprocessReply, ReadyReply, WorkerInit, WorkerInput } from './protocol.js';
import { onShutdown } from '../util/shutdown.js';
import { resultsFromSlots } from './scores.js';

/** How long close() lets the workers dispose their sessions before it ends them. */
const CLOSE_LIMIT_MS = 30_000;

export interface PoolOptions {
  model: ViTModel;
  backend: BackendName;
  /** Default: the CPU count for CPU backends, 1 for GPU backends. */
  workers?: number;
  /**
   * GPU backends: decode + preprocess in this many CPU-only workers and hand the pixels to the GPU
   * worker(s), instead of each GPU worker decoding its own batch. 0 (default) = GPU workers decode.
   */
  preprocessWorkers?: number;
  /** Passed to every worker's createSession (precision, threads, output, device). */
  sessionOptions?: SessionOptions;
  /** GPU backends: device ordinals to spread over, one worker per device by default (batches go to whichever is free). */
  gpus?: number[];
}

/** dist/workers/worker.js, also when this module runs from TypeScript source (tests). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts') ? fileURLToPath(new URL('../dist/workers/worker.js', import.meta.url)) : fileURLToPath(new URL('./worker.js', import.meta.url));
  if (!existsSync(js)) throw new Error(`${js} is missing: build the project first (npm run build)`);
  return js;
}

export function defaultWorkers(backend: BackendName): number {
  return isGpuBackend(backend) ? 1 : availableParallelism();
}

/**
 * Decode-only workers for jobs that decode images on a GPU backend: one GPU worker fed by CPU workers was
 * the faster layout on an H200 with 16 cores (ViT-B/16, batch 32: 717 img/s with 12 decoders, against 622
 * with 8 GPU workers decoding their own batches and 630 with 2 GPU workers + 12 decoders). None on CPU
 * backends, whose workers decode for themselves.
 */
export function defaultPreprocessWorkers(backend: BackendName): number {
  return isGpuBackend(backend) ? Math.max(1, availableParallelism() - 2) : 0;
}

/** An AbortError for a signal (its reason when that is one already). */
export function abortError(signal: AbortSignal): Error {
  const r = signal.reason as unknown;
  if (r instanceof Error && r.name === 'AbortError') return r;
  return new DOMException(r instanceof Error ? r.message : 'The operation was aborted', 'AbortError');
}

/**
 * `run(items)` for a batch, with a worker's death confined to the inputs that cause it: when the run rejects, the
 * halves are run apart (and so on down to single items), and a single item is tried once more before `failOne`
 * reports it ("worker failed twice on this file alone: ..."). An abort of `signal` rejects with an AbortError.
 */
export async function isolateFailures<I, R>(
  items: I[],
  run: (items: I[]) => Promise<R>,
  merge: (a: R, b: R) => R,
  failOne: (why: string) => R,
  signal?: AbortSignal,
): Promise<R> {
  try {
    return await run(items);
  } catch {
    if (signal?.aborted) throw abortError(signal);
    if (items.length > 1) {
      const mid = Math.ceil(items.length / 2);
      const [a, b] = await Promise.all([isolateFailures(items.slice(0, mid), run, merge, failOne, signal), isolateFailures(items.slice(mid), run, merge, failOne, signal)]);
      return merge(a, b);
    }
    try {
      return await run(items); // one item: once more, in case the death was not its doing
    } catch (again) {
      if (signal?.aborted) throw abortError(signal);
      return failOne(`worker failed twice on this file alone: ${again instanceof Error ? again.message : String(again)}`);
    }
  }
}

/**
 * `work` unless `signal` aborts first: then an AbortError at once, and whatever `work` ends with is dropped (a
 * batch already in a worker finishes there; the pool stays usable).
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) reject(abortError(signal));
        else resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? abortError(signal) : e);
      },
    );
  });
}

/**
 * A pool whose every worker has its session: for a named backend, or under 'auto' the first backend in the auto
 * order whose pool starts (engine/auto.ts; `choice` says which and why the faster ones were skipped). `options`
 * makes the pool options for a backend (defaults such as decode-only workers depend on it). A pool that fails
 * to start is closed before the error (or the next backend).
 */
export async function startPool(backend: BackendRequest, options: (b: BackendName) => PoolOptions | Promise<PoolOptions>): Promise<{ pool: InferencePool; choice?: AutoChoice }> {
  const start = async (b: BackendName) => {
    const pool = new InferencePool(await options(b));
    try {
      await pool.ready();
      return pool;
    } catch (e) {
      await pool.close();
      throw e;
    }
  };
  if (backend !== 'auto') return { pool: await start(backend) };
  const { value, choice } = await startAuto(start);
  return { pool: value, choice };
}

export class InferencePool {
  readonly workers: number;
  /**
   * Runs each worker keeps in flight: 2 on a GPU (the next batch's upload overlaps the current one's
   * kernels: ViT-B/16 batch 64 on an H200 went from 737 to 862 img/s), 1 on a CPU core.
   */
  readonly inFlightPerWorker: number;
  /** What the GPU workers run on ("cuda bf16 on NVIDIA H100 ..."), once ready() resolved. */
  device: string | undefined;
  private readonly pool: Piscina;
  /** Decode-only workers feeding the GPU worker(s), when asked for on a GPU backend. */
  private readonly prep?: Piscina;
  private readonly prepWorkers: number;

  private readonly unregister: () => void;

  constructor(readonly options: PoolOptions) {
    this.unregister = onShutdown(() => this.close());
    const gpus = isGpuBackend(options.backend) && options.gpus?.length ? options.gpus : undefined;
    this.workers = options.workers ?? (gpus ? gpus.length : defaultWorkers(options.backend));
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new Error(`--workers must be a positive integer, got ${options.workers}`);
    this.inFlightPerWorker = isGpuBackend(options.backend) ? 2 : 1;
    const filename = workerFile();
    const piscina = (init: WorkerInit, threads: number, perWorker: number) =>
      new Piscina({
        filename,
        workerData: {
          ...init,
          started: new Int32Array(new SharedArrayBuffer(4)),
          threads,
          closing: new Int32Array(new SharedArrayBuffer(4)),
          closeTasks: threads * perWorker,
        } satisfies WorkerInit,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: Infinity,
        concurrentTasksPerWorker: perWorker,
        // Unbounded: callers bound their own in-flight work. ('auto' is threads², i.e. 1 for one GPU worker:
        // decode-only workers feeding it had their batches refused.)
        maxQueue: Infinity,
      });
    const gpuSlot = gpus ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    this.pool = piscina({ model: options.model, backend: options.backend, sessionOptions: options.sessionOptions, gpus, gpuSlot }, this.workers, this.inFlightPerWorker);
    this.prepWorkers = isGpuBackend(options.backend) ? Math.max(0, options.preprocessWorkers ?? 0) : 0;
    if (this.prepWorkers > 0) this.prep = piscina({ model: options.model, backend: 'none' }, this.prepWorkers, 1);
  }

  /** Wait until every worker has built its session (so timings and errors start clean); `device` then holds
   * the sessions' distinct describe() lines (which precision and kernel path run where). */
  ready(): Promise<void> {
    return (this.started ??= this.waitReady());
  }

  /** Set by the first ready(): the sessions' creation (close() waits for it; see there). */
  private started?: Promise<void>;

  private async waitReady(): Promise<void> {
    // Decode-only workers answer once all of them have loaded (close() waits for these tasks too).
    const prep = this.prep ? Array.from({ length: this.prepWorkers }, () => this.task(this.prep!, { kind: 'ready' })) : [];
    const [replies] = (await Promise.all([Promise.all(Array.from({ length: this.runSlots }, () => this.task(this.pool, { kind: 'ready' }))), ...prep])) as [ReadyReply[]];
    const devices = [...new Set(replies.map((r) => r.device).filter((d): d is string => !!d))];
    this.device = devices.length ? devices.join('; ') : undefined;
  }

  /** Runs the session workers hold at once (one task per slot reaches every worker: 'ready', 'close'). */
  private get runSlots(): number {
    return this.workers * this.inFlightPerWorker;
  }

  /** Batches to keep submitted so every worker is busy. */
  get concurrency(): number {
    return Math.max(this.runSlots, this.prepWorkers);
  }

  /**
   * Classify one batch of files. Never rejects for a bad input: failures come back per file. When a worker
   * dies on the batch, its halves are retried apart (and so on down to single files), so only an input that
   * kills a worker on its own (twice) is reported failed. `signal` rejects it with an AbortError at once.
   */
  async classify(files: WorkerInput[], topK: number, signal?: AbortSignal): Promise<ClassifyReply> {
    if (signal?.aborted) throw abortError(signal);
    return isolateFailures(
      files,
      (part) => abortable(this.classifyOnce(part, topK), signal),
      (a, b) => ({ results: [...a.results, ...b.results], decodeMs: a.decodeMs + b.decodeMs, forwardMs: a.forwardMs + b.forwardMs }),
      (error) => ({ results: [{ error }], decodeMs: 0, forwardMs: 0 }),
      signal,
    );
  }

  private async classifyOnce(files: WorkerInput[], topK: number): Promise<ClassifyReply> {
    if (this.prep) return this.classifyFed(files, topK);
    return (await this.task(this.pool, { kind: 'classify', files, topK })) as ClassifyReply;
  }

  /**
   * The session's output rows (logits, or features with sessionOptions.output) per input, or its error.
   * Encoded bytes and pixels are copied once and the copies transferred to the worker. `signal` rejects it with
   * an AbortError at once (the batch already in a worker finishes there).
   */
  outputs(inputs: WorkerInput[], signal?: AbortSignal): Promise<({ row: Float32Array } | { error: string })[]> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return abortable(this.outputsOnce(inputs), signal);
  }

  private async outputsOnce(inputs: WorkerInput[]): Promise<({ row: Float32Array } | { error: string })[]> {
    const width = outputWidth(this.options.model.config, this.options.sessionOptions?.output);
    const transfer: ArrayBuffer[] = [];
    const files = inputs.map((f) => {
      if (typeof f === 'string') return f;
      const copy = new Uint8Array('bytes' in f ? f.bytes : f.pixels);
      transfer.push(copy.buffer);
      return 'bytes' in f ? { ...f, bytes: copy } : { ...f, pixels: copy };
    });
    let r: OutputReply;
    if (this.prep) {
      const p = (await this.task(this.prep, { kind: 'preprocess', files }, { transferList: transfer })) as PreprocessReply;
      const n = p.slots.filter((s) => 'row' in s).length;
      r = { rows: n ? (await this.forward(p.pixels, n)).logits : new Float32Array(0), slots: p.slots, decodeMs: p.decodeMs, forwardMs: 0 };
    } else {
      r = (await this.task(this.pool, { kind: 'output', files }, { transferList: transfer })) as OutputReply;
    }
    return r.slots.map((s) => {
      if ('error' in s) return { error: s.error };
      const row = r.rows.slice(s.row * width, (s.row + 1) * width);
      const bad = row.findIndex((v) => !Number.isFinite(v));
      return bad >= 0 ? { error: `the model's output is not finite (${row[bad]} at index ${bad}): no result` } : { row };
    });
  }

  /** Decode-only workers make the pixels; a GPU worker runs them. */
  private async classifyFed(files: WorkerInput[], topK: number): Promise<ClassifyReply> {
    const p = (await this.task(this.prep!, { kind: 'preprocess', files })) as PreprocessReply;
    const rows = p.slots.filter((s) => 'row' in s).length;
    const f = rows ? await this.forward(p.pixels, rows) : undefined;
    const { model } = this.options;
    return { results: resultsFromSlots(p.slots, f?.logits, outputWidth(model.config), topK, model.config.labels), decodeMs: p.decodeMs, forwardMs: f?.forwardMs ?? 0, deviceMs: f?.deviceMs };
  }

  /**
   * Forward one batch of preprocessed pixels (benchmarks). The array is transferred when it is not shared.
   * `reusedInput`: the same shared buffer comes again (a GPU session may page-lock it; RunHints).
   */
  async forward(pixels: Float32Array, batch: number, signal?: AbortSignal, opts: { reusedInput?: boolean } = {}): Promise<ForwardReply> {
    if (signal?.aborted) throw abortError(signal);
    const transfer = pixels.buffer instanceof ArrayBuffer ? [pixels.buffer] : [];
    const task: ForwardTask = { kind: 'forward', pixels, batch, ...(opts.reusedInput ? { reusedInput: true } : {}) };
    return (await abortable(this.task(this.pool, task, { transferList: transfer }), signal)) as ForwardReply;
  }

  /** Every task submitted and not yet settled (aborted calls leave theirs running in a worker). */
  private readonly running = new Set<Promise<unknown>>();

  private task(p: Piscina, task: unknown, opts?: { transferList: ArrayBuffer[] }): Promise<unknown> {
    const r = p.run(task, opts);
    const settled: Promise<boolean> = r.then(
      () => this.running.delete(settled),
      () => this.running.delete(settled),
    );
    this.running.add(settled);
    return r;
  }

  /**
   * Waits for the tasks still in the workers, then ends the workers. Running tasks finish first: terminating a GPU
   * worker with a buffer mapping pending aborts the whole process inside Dawn ("Promise not resolved or rejected:
   * mapAsync()"). The pools are destroyed rather than closed: Piscina's close() keeps the pool, its workerData
   * (the model's SharedArrayBuffers) included, alive for its 30 s close timeout (20 pipelines in a row grew RSS
   * by the model's size each).
   */
  close(): Promise<void> {
    return (this.closing ??= this.shut());
  }

  /** Set by the first close(): a second one (shutdown() and then the caller) waits for the same end. */
  private closing?: Promise<void>;

  private async shut(): Promise<void> {
    this.unregister();
    // Workers create their sessions as they start: terminating one mid-creation aborts the process in a native
    // backend (onnxruntime-node), so the creation ends first, failed or not.
    await this.ready().catch(() => undefined);
    while (this.running.size) await Promise.all(this.running);
    // Sessions dispose before their workers end (GPU memory, page-locked host memory, the device context); a
    // worker that does not answer within the limit is ended anyway.
    const closes = Array.from({ length: this.runSlots }, () => this.pool.run({ kind: 'close' }).catch(() => undefined));
    await Promise.race([Promise.all(closes), new Promise((r) => setTimeout(r, CLOSE_LIMIT_MS).unref())]);
    await Promise.all([this.pool, ...(this.prep ? [this.prep] : [])].map((p) => p.destroy()));
  }
}
