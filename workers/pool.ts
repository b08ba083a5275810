/**
 * The worker pool: Piscina threads that each own an inference session. Weights travel once, as views on
 * SharedArrayBuffers (every worker maps the same memory); images are decoded inside the workers.
 *
 * A worker that dies is replaced by Piscina; its batch is retried once, then its inputs are reported as
 * failed. Other batches go on.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ViTModel } from '../model/weights.js';
import { isGpuBackend, type BackendName, type SessionOptions } from '../engine/types.js';
import { outputWidth } from '../model/shapes.js';
import type { ClassifyReply, FileResult, ForwardReply, PreprocessReply, WorkerInit } from './protocol.js';
import { resultsFromSlots } from './scores.js';

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
  /** Threads per session (wasm XNNPACK, onnx intra-op; default 1) and the onnx precision. */
  session?: SessionOptions;
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

export class InferencePool {
  readonly workers: number;
  /**
   * Runs each worker keeps in flight: 2 on a GPU (the next batch's upload overlaps the current one's
   * kernels: ViT-B/16 batch 64 on an H200 went from 737 to 862 img/s), 1 on a CPU core.
   */
  readonly inFlightPerWorker: number;
  private readonly pool: Piscina;
  /** Decode-only workers feeding the GPU worker(s), when asked for on a GPU backend. */
  private readonly prep?: Piscina;
  private readonly prepWorkers: number;

  constructor(readonly options: PoolOptions) {
    this.workers = options.workers ?? defaultWorkers(options.backend);
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new Error(`--workers must be a positive integer, got ${options.workers}`);
    this.inFlightPerWorker = isGpuBackend(options.backend) ? 2 : 1;
    const filename = workerFile();
    const piscina = (init: WorkerInit, threads: number, perWorker: number) =>
      new Piscina({
        filename,
        workerData: init,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: Infinity,
        concurrentTasksPerWorker: perWorker,
        // Unbounded: callers bound their own in-flight work. ('auto' is threads², i.e. 1 for one GPU worker:
        // decode-only workers feeding it had their batches refused.)
        maxQueue: Infinity,
      });
    this.pool = piscina({ model: options.model, backend: options.backend, session: options.session }, this.workers, this.inFlightPerWorker);
    this.prepWorkers = isGpuBackend(options.backend) ? Math.max(0, options.preprocessWorkers ?? 0) : 0;
    if (this.prepWorkers > 0) this.prep = piscina({ model: options.model, backend: 'none' }, this.prepWorkers, 1);
  }

  /** Wait until every worker has built its session (so timings and errors start clean). */
  async ready(): Promise<void> {
    await Promise.all(Array.from({ length: this.workers * this.inFlightPerWorker }, () => this.pool.run({ kind: 'ready' })));
  }

  /** Batches to keep submitted so every worker is busy. */
  get concurrency(): number {
    return Math.max(this.workers * this.inFlightPerWorker, this.prepWorkers);
  }

  /** Classify one batch of files. Never rejects for a bad input: failures come back per file. */
  async classify(files: string[], topK: number): Promise<ClassifyReply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (this.prep) return await this.classifyFed(files, topK);
        return (await this.pool.run({ kind: 'classify', files, topK })) as ClassifyReply;
      } catch (e) {
        lastError = e; // the worker died or its session failed (device lost, out of memory): retry once
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    const results: FileResult[] = files.map(() => ({ error: `worker failed twice on this batch: ${why}` }));
    return { results, decodeMs: 0, forwardMs: 0 };
  }

  /** Decode-only workers make the pixels; a GPU worker runs them. */
  private async classifyFed(files: string[], topK: number): Promise<ClassifyReply> {
    const p = (await this.prep!.run({ kind: 'preprocess', files })) as PreprocessReply;
    const rows = p.slots.filter((s) => 'row' in s).length;
    const f = rows ? await this.forward(p.pixels, rows) : undefined;
    const { model } = this.options;
    return { results: resultsFromSlots(p.slots, f?.logits, outputWidth(model.config), topK, model.config.labels), decodeMs: p.decodeMs, forwardMs: f?.forwardMs ?? 0, deviceMs: f?.deviceMs };
  }

  /** Forward one batch of preprocessed pixels (benchmarks). The array is transferred when it is not shared. */
  async forward(pixels: Float32Array, batch: number): Promise<ForwardReply> {
    const transfer = pixels.buffer instanceof ArrayBuffer ? [pixels.buffer] : [];
    return (await this.pool.run({ kind: 'forward', pixels, batch }, { transferList: transfer })) as ForwardReply;
  }

  async close(): Promise<void> {
    // close() lets running tasks finish: terminating a GPU worker with a buffer mapping pending aborts the
    // whole process inside Dawn ("Promise not resolved or rejected: mapAsync()").
    await Promise.all([this.pool, ...(this.prep ? [this.prep] : [])].map((p) => p.close()));
  }
}
