/** Shapes of `vit bench` output, shared by the runner and the formatters. */

/** Optional architecture numbers; when present the report adds a FLOP-based size-scaling prediction. */
export interface BenchModelDims {
  patchSize: number;
  hiddenSize: number;
  mlpDim: number;
}

export interface BenchEnvironment {
  cpu: string;
  cores: number;
  memoryGB: number;
  gpu?: string;
  os: string;
  node: string;
  packages: Record<string, string>;
  commit?: string;
  date: string;
  model: string;
  modelDims?: BenchModelDims;
}

/** What a combination ran with. */
export interface BenchSettings {
  /** Backend, with its precision where it is not the plain fp32 of a CPU or webgpu run (`cuda-bf16`, `webgpu-fp16`). */
  backend: string;
  /** 'auto' when the backend was chosen by --backend auto (`backend` is the one chosen). */
  requested?: 'auto';
  precision?: string;
  /** What ran where: the sessions' describe() lines, with the kernel path ("webgpu fp16 (subgroup-matrix ...) on ...",
   * "cuda bf16 on GPU 0: NVIDIA H100 ..."). */
  device?: string;
  /** GPU backends with --gpus: how many devices the pool spread over. */
  gpus?: number;
  workers: number;
  batchSize: number;
  /** Image height (and width, unless `imageWidth` says otherwise). */
  imageSize: number;
  /** Image width, when it differs from the height (--image-size HxW). */
  imageWidth?: number;
  mode: 'model' | 'end-to-end';
  /** Threads per session, when not 1 (wasm XNNPACK, onnx intra-op). */
  threads?: number;
  /** Batches kept in flight, when set by --in-flight (else one per CPU worker, two per GPU worker). */
  inFlight?: number;
}

/** A combination that ran. */
export interface BenchMeasured extends BenchSettings {
  error?: undefined;
  imagesPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
  peakRssMB: number;
  deviceMs?: { p50: number };
  iterations: number;
  images: number;
}

/** A combination that failed (a backend that cannot start, an error mid-run): the others are kept. */
export interface BenchFailed extends BenchSettings {
  error: string;
}

export type BenchResult = BenchMeasured | BenchFailed;

/** The results that ran. */
export function measured(results: readonly BenchResult[]): BenchMeasured[] {
  return results.filter((r): r is BenchMeasured => r.error === undefined);
}

export interface BenchReport {
  environment: BenchEnvironment;
  results: BenchResult[];
}
