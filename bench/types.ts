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
  backend: string;
  workers: number;
  batchSize: number;
  imageSize: number;
  mode: 'model' | 'end-to-end';
  /** Threads per session, when not 1 (wasm XNNPACK, onnx intra-op). */
  threads?: number;
  /** onnx precision, when not fp32. */
  precision?: string;
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
