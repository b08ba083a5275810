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

export interface BenchResult {
  /** The backend, or `<backend>-<precision>` for GPU backends when precisions were asked for. */
  backend: string;
  /** GPU backends: the precision asked for, and the session's describe() line (the kernel path that ran). */
  precision?: string;
  path?: string;
  workers: number;
  batchSize: number;
  imageSize: number;
  mode: 'model' | 'end-to-end';
  imagesPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
  peakRssMB: number;
  deviceMs?: { p50: number };
  iterations: number;
  images: number;
}

export interface BenchReport {
  environment: BenchEnvironment;
  results: BenchResult[];
}
