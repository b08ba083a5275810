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
import type { ViTModel } from '../engine/config.js';
import { isGpuBackend, type BackendName } from '../engine/session.js';
import type { ClassifyReply, FileResult, ForwardReply, WorkerInit } from './protocol.js';

export interface PoolOptions {
  model: ViTModel;
  backend: BackendName;
  /** Default: the CPU count for CPU backends, 1 for GPU backends. */
  workers?: number;
  /** Threads inside each worker's backend (wasm XNNPACK); default 1, parallelism comes from the pool. */
  threadsPerWorker?: number;
  /** GPU backends: how many GPUs to spread workers over (worker i uses adapter i % gpus). */
  gpus?: number;
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

export class InferencePool {
  readonly workers: number;
  private readonly pools: Piscina[];
  private next = 0;

  constructor(readonly options: PoolOptions) {
    this.workers = options.workers ?? defaultWorkers(options.backend);
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new Error(`--workers must be a positive integer, got ${options.workers}`);
    const filename = workerFile();
    // One Piscina per GPU (workers pinned to their adapter); one for all CPU workers.
    const groups = isGpuBackend(options.backend) ? Math.max(1, Math.min(options.gpus ?? 1, this.workers)) : 1;
    this.pools = Array.from({ length: groups }, (_, g) => {
      const n = Math.floor(this.workers / groups) + (g < this.workers % groups ? 1 : 0);
      const init: WorkerInit = { model: options.model, backend: options.backend, threads: options.threadsPerWorker, gpuIndex: g };
      return new Piscina({
        filename,
        workerData: init,
        minThreads: n,
        maxThreads: n,
        idleTimeout: Infinity,
        // Keep every worker busy while the next batch is handed over.
        concurrentTasksPerWorker: 1,
        maxQueue: 'auto',
      });
    });
  }

  /** Wait until every worker has built its session (so timings and errors start clean). */
  async ready(): Promise<void> {
    const tasks: Promise<unknown>[] = [];
    for (const p of this.pools) for (let i = 0; i < p.options.maxThreads; i++) tasks.push(p.run({ kind: 'ready' }));
    await Promise.all(tasks);
  }

  private pick(): Piscina {
    const p = this.pools[this.next % this.pools.length]!;
    this.next++;
    return p;
  }

  /** Classify one batch of files. Never rejects for a bad input: failures come back per file. */
  async classify(files: string[], topK: number): Promise<ClassifyReply> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return (await this.pick().run({ kind: 'classify', files, topK })) as ClassifyReply;
      } catch (e) {
        lastError = e; // the worker died or its session failed (device lost, out of memory): retry once
      }
    }
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    const results: FileResult[] = files.map(() => ({ error: `worker failed twice on this batch: ${why}` }));
    return { results, decodeMs: 0, forwardMs: 0 };
  }

  /** Forward one batch of preprocessed pixels (benchmarks). The array is transferred when it is not shared. */
  async forward(pixels: Float32Array, batch: number): Promise<ForwardReply> {
    const transfer = pixels.buffer instanceof ArrayBuffer ? [pixels.buffer] : [];
    return (await this.pick().run({ kind: 'forward', pixels, batch }, { transferList: transfer })) as ForwardReply;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}
