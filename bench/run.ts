/**
 * `vit bench`: images/s and per-batch latency for every combination of backend x workers x batch size x
 * image size, each on a fresh pool, warm-up excluded. Closed loop: `pool.concurrency` batches in flight
 * (one per CPU worker, two per GPU worker).
 */
import { readdir } from 'node:fs/promises';
import { sharedFloat32, type ViTModel } from '../model/weights.js';
import { checkPrecision, defaultPrecision, isGpuBackend, type AutoChoice, type BackendName, type BackendRequest, type Precision } from '../engine/session.js';
import { gpuCount, parseGpus } from '../engine/gpus.js';
import { withImageSize } from '../loaders/checkpoint.js';
import type { ResolveOptions } from '../loaders/hub.js';
import { openModel } from '../loaders/index.js';
import { walkInputs } from '../util/inputs.js';
import { xorshiftFill } from '../util/random.js';
import { defaultPreprocessWorkers, startPool } from '../workers/pool.js';
import { benchEnvironment } from './environment.js';
import type { BenchMeasured, BenchReport, BenchResult, BenchSettings } from './types.js';

export interface BenchOptions {
  model: string;
  /** 'auto': the fastest backend that starts here, per combination (rows say which, with requested: 'auto'). */
  backends: BackendRequest[];
  /** GPU backends: device sets (--gpus values), each a combination of its own. */
  gpus?: string[];
  /** Each backend runs those of these it has (checkPrecision; the rest are skipped, said on stderr). Default: the backend's own. */
  precisions?: Precision[];
  workers: number[];
  batchSizes: number[];
  /** [height, width] each. */
  imageSizes: [number, number][];
  warmup: number;
  iterations?: number;
  duration?: number;
  mode: 'model' | 'end-to-end';
  images?: string;
  /** GPU backends, end-to-end: decode-only workers feeding the GPU worker(s). */
  preprocessWorkers?: number;
  /** Hub options (onResolve). */
  hub?: ResolveOptions;
  /** Threads per session (default 1). */
  threads?: number;
  /** Batches kept in flight (default the pool's concurrency); 1 times one call at a time: latency. */
  inFlight?: number;
  /** Called when auto has chosen (the first time, and whenever the choice changes). */
  onChoice?: (c: AutoChoice) => void;
  /** Called after each combination (progress on stderr). */
  onResult?: (r: BenchResult) => void;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Normalised random pixels on shared memory: workers read them without a copy per batch. */
function pixelBatch(model: ViTModel, batch: number): Float32Array {
  const [h, w] = model.config.imageSize;
  const px = sharedFloat32(batch * model.config.numChannels * h * w);
  xorshiftFill(px, 0x2545f491, -2, 2);
  return px;
}

async function imageList(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const i of walkInputs([dir])) files.push(i.path);
  if (!files.length) throw new Error(`--images ${dir}: no image files found (${(await readdir(dir)).length} entries)`);
  return files;
}

/** The settings columns of a combination's row. */
function settings(backend: BackendName, precision: Precision | undefined, gpus: number[] | undefined, workers: number, batch: number, [h, w]: [number, number], mode: BenchOptions['mode']): BenchSettings {
  return {
    backend: precision && (backend === 'cuda' || precision !== 'fp32') ? `${backend}-${precision}` : backend,
    ...(precision ? { precision } : {}),
    ...(gpus ? { gpus: gpus.length } : {}),
    workers,
    batchSize: batch,
    imageSize: h,
    ...(w !== h ? { imageWidth: w } : {}),
    mode,
  };
}

async function runOne(base: ViTModel, requested: BackendRequest, precision: Precision | undefined, gpus: number[] | undefined, workers: number, batch: number, size: [number, number], o: BenchOptions, images?: string[]): Promise<BenchMeasured> {
  const model = withImageSize(base, size);
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 25);
  let pool;
  try {
    ({ pool } = await startPool(requested, (backend) => {
      const preprocessWorkers = o.mode === 'end-to-end' ? (o.preprocessWorkers ?? defaultPreprocessWorkers(backend)) : 0;
      return { model, backend, workers: gpus ? Math.max(workers, gpus.length) : workers, preprocessWorkers, sessionOptions: { precision, threads: o.threads }, gpus };
    }).then((r) => {
      if (r.choice) noteChoice(r.choice, o);
      return r;
    }));
  } catch (e) {
    clearInterval(sampler);
    throw e;
  }
  const backend = pool.options.backend;
  try {
    const deviceName = pool.device;
    const pixels = o.mode === 'model' ? pixelBatch(model, batch) : undefined;
    let cursor = 0;
    const nextFiles = () => Array.from({ length: batch }, () => images![cursor++ % images!.length]!);
    const one = async (): Promise<{ ms: number; deviceMs?: number }> => {
      const t0 = performance.now();
      if (pixels) {
        const r = await pool.forward(pixels, batch, undefined, { reusedInput: true });
        return { ms: performance.now() - t0, deviceMs: r.deviceMs };
      }
      const r = await pool.classify(nextFiles(), 5);
      const bad = r.results.find((x) => x.error !== undefined);
      if (bad) throw new Error(`end-to-end: ${bad.error}`);
      return { ms: performance.now() - t0, deviceMs: r.deviceMs };
    };
    // Warm-up: every worker builds its session and runs `warmup` batches.
    const lanes = o.inFlight ?? pool.concurrency;
    // (every run slot warms up, whatever --in-flight times)
    for (let i = 0; i < o.warmup; i++) await Promise.all(Array.from({ length: pool.concurrency }, one));

    const latencies: number[] = [];
    const device: number[] = [];
    const target = o.iterations !== undefined ? o.iterations * lanes : Infinity;
    const deadline = o.duration !== undefined ? performance.now() + o.duration * 1000 : Infinity;
    let started = 0;
    const t0 = performance.now();
    const lane = async () => {
      while (started < target && performance.now() < deadline) {
        started++;
        const r = await one();
        latencies.push(r.ms);
        if (r.deviceMs !== undefined) device.push(r.deviceMs);
      }
    };
    // allSettled: a failing lane must not close the pool under the others' in-flight batches.
    const settled = await Promise.allSettled(Array.from({ length: lanes }, lane));
    const failure = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) throw failure.reason;
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    device.sort((a, b) => a - b);
    return {
      ...settings(backend, precision, gpus, workers, batch, size, o.mode),
      ...(requested === 'auto' ? { requested } : {}),
      ...(deviceName ? { device: deviceName } : {}),
      ...(o.threads && o.threads > 1 ? { threads: o.threads } : {}),
      ...(o.inFlight ? { inFlight: o.inFlight } : {}),
      imagesPerSecond: (latencies.length * batch) / seconds,
      latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
      peakRssMB: Math.round((peakRss / 2 ** 20) * 10) / 10,
      ...(device.length ? { deviceMs: { p50: percentile(device, 50) } } : {}),
      iterations: latencies.length,
      images: latencies.length * batch,
    };
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
}

const lastChoice = new WeakMap<BenchOptions, string>();
/** Tells onChoice about an auto choice once, and again only when it changes. */
function noteChoice(c: AutoChoice, o: BenchOptions): void {
  const key = JSON.stringify(c);
  if (lastChoice.get(o) === key) return;
  lastChoice.set(o, key);
  o.onChoice?.(c);
}

async function gpuName(backends: BackendRequest[]): Promise<string | undefined> {
  if (!backends.some((b) => b !== 'auto' && isGpuBackend(b))) return undefined;
  if (backends.includes('cuda')) {
    try {
      const { CudaApi } = await import('../engine/cuda/driver.js');
      const api = await CudaApi.get();
      const d = api.device(0);
      return `${d.name} (CUDA, sm_${d.computeCapability.join('')}, driver ${api.report.driver.version})`;
    } catch (e) {
      return `CUDA unavailable: ${(e as Error).message}`;
    }
  }
  try {
    const { describeAdapter } = await import('../engine/webgpu/device.js');
    const a = await describeAdapter();
    if (!a) return 'no WebGPU adapter';
    return [a.description || a.device, a.vendor && `(${String(a.vendor)}${a.architecture ? ` ${String(a.architecture)}` : ''})`].filter(Boolean).join(' ');
  } catch (e) {
    return `WebGPU unavailable: ${(e as Error).message}`;
  }
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  if (o.iterations === undefined && o.duration === undefined) throw new Error('bench: give --iterations or --duration');
  if (o.mode === 'end-to-end' && !o.images) throw new Error('bench: --mode end-to-end needs --images DIR');
  const base = await openModel(o.model, { hub: o.hub });
  const images = o.mode === 'end-to-end' ? await imageList(o.images!) : undefined;
  const environment = benchEnvironment(o.model, await gpuName(o.backends));
  const c = base.config;
  environment.modelDims = { patchSize: c.patchSize, hiddenSize: c.hiddenSize, mlpDim: c.mlpDim };
  const results: BenchResult[] = [];
  for (const backend of o.backends)
    for (const precision of backend === 'auto' ? (o.precisions ?? [undefined]) : precisionsFor(backend, o.precisions))
      for (const gpuSpec of backend !== 'auto' && isGpuBackend(backend) && o.gpus ? o.gpus : [undefined]) {
        for (const size of o.imageSizes)
          for (const batch of o.batchSizes)
            for (const workers of o.workers) {
              // A combination that fails is kept as a row with its error; the sweep goes on.
              let r: BenchResult;
              try {
                const gpus = gpuSpec && backend !== 'auto' ? parseGpus(gpuSpec, await gpuCount(backend), backend) : undefined;
                r = await runOne(base, backend, precision, gpus, workers, batch, size, o, images);
              } catch (e) {
                r = { ...settings(backend as BackendName, precision, undefined, workers, batch, size, o.mode), error: e instanceof Error ? e.message : String(e) };
              }
              results.push(r);
              o.onResult?.(r);
            }
      }
  return { environment, results };
}

/** The precisions `backend` runs: those asked for that it has (the others skipped with a line on stderr), else its own
 * (undefined for CPU backends: rows unlabelled). */
function precisionsFor(backend: BackendName, asked: Precision[] | undefined): (Precision | undefined)[] {
  if (!asked) return isGpuBackend(backend) ? [defaultPrecision(backend)] : [undefined];
  return asked.filter((p) => {
    try {
      checkPrecision(backend, p);
      return true;
    } catch (e) {
      console.error(`bench: skipped: ${(e as Error).message}`);
      return false;
    }
  });
}

