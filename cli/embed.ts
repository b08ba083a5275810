/**
 * `vit embed <paths...>`: one feature vector per image (the final-norm class token, or the mean of the patch
 * tokens), by the rules of `vit classify`: input order whatever the worker count, an error record for every bad
 * input, Ctrl-C finishes the batches in flight and writes them. Output, each with the run's provenance:
 *
 * - jsonl (stdout or --output FILE): a first line `{"provenance": {...}}`, then `{"file", "embedding"}` or
 *   `{"file", "error"}` per input.
 * - FILE.safetensors: tensor `embeddings` F32 [n, D] of the inputs that worked; `__metadata__` strings
 *   `provenance`, `files` (the row order) and `errors` (JSON).
 * - FILE.npy: float32 [n, D], and a sidecar FILE.index.jsonl: the provenance line, then per input in input order
 *   `{"row", "file"}` or `{"file", "error"}`.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { endianness } from 'node:os';
import type { PosEmbedResample } from '../model/config.js';
import { gpuCount, parseGpus } from '../engine/gpus.js';
import { autoLine, isGpuBackend, type BackendName, type BackendRequest, type Precision } from '../engine/session.js';
import { resolveModel, type ResolveOptions } from '../loaders/hub.js';
import { openModel } from '../loaders/index.js';
import { isRandomSpec } from '../loaders/random.js';
import { l2normalize } from '../pipeline/index.js';
import { provenance } from '../pipeline/provenance.js';
import { countInputs, walkInputs } from '../util/inputs.js';
import { defaultPreprocessWorkers, isolateFailures, startPool, type InferencePool } from '../workers/pool.js';
import type { WorkerInput } from '../workers/protocol.js';
import { runInOrder } from './in-order.js';
import { catchInterrupts, type Interrupt, type Interrupts } from './interrupt.js';
import { checkRunFits } from './limits.js';
import { ProgressLine } from './progress.js';
import { OutputError, OutputSink, writeFilesSafely } from './sink.js';

export type EmbedFormat = 'jsonl' | 'safetensors' | 'npy';

export interface EmbedOptions {
  paths: string[];
  model: string;
  /** A backend, or 'auto' (the fastest that starts here; the choice is said on stderr and recorded). */
  backend: BackendRequest;
  precision?: Precision;
  workers?: number;
  preprocessWorkers?: number;
  gpus?: string;
  batchSize: number;
  imageSize?: [number, number];
  posEmbed?: PosEmbedResample;
  pool: 'cls' | 'mean';
  normalize: boolean;
  recursive: boolean;
  /** Default: from the --output extension (.safetensors, .npy), else jsonl. */
  format?: EmbedFormat;
  output?: string;
  progress?: boolean;
  hub?: ResolveOptions;
  /** Messages for stderr (a symlink loop not followed). */
  warn?: (s: string) => void;
}

export interface EmbedSummary {
  total: number;
  failed: number;
  interrupted?: Interrupt;
  seconds: number;
}

/** The output format: --format, else the --output extension, else jsonl; a matrix needs a file. */
export function embedFormat(format: EmbedFormat | undefined, output: string | undefined): EmbedFormat {
  const f = format ?? (output?.endsWith('.safetensors') ? 'safetensors' : output?.endsWith('.npy') ? 'npy' : 'jsonl');
  if (f !== 'jsonl' && output === undefined) throw new OutputError(`--format ${f} is binary: give --output FILE.${f}`);
  return f;
}

export type { Provenance } from '../pipeline/provenance.js';

type Outcome = { row: Float32Array } | { error: string };

/** Feature rows of one batch; never rejects for a bad input (a worker's death is confined by isolateFailures). */
function outputs(pool: InferencePool, files: WorkerInput[]): Promise<Outcome[]> {
  return isolateFailures<WorkerInput, Outcome[]>(files, (part) => pool.outputs(part), (a, b) => [...a, ...b], (error) => [{ error }]);
}

/** A float32 matrix [rows, D] as rows are appended (doubling storage). */
class Matrix {
  rows = 0;
  private data: Float32Array;
  constructor(readonly dim: number) {
    this.data = new Float32Array(dim * 64);
  }
  push(row: Float32Array): number {
    if ((this.rows + 1) * this.dim > this.data.length) {
      const next = new Float32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data.set(row, this.rows * this.dim);
    return this.rows++;
  }
  bytes(): Uint8Array {
    if (endianness() !== 'LE') throw new Error('embed: matrix files are written little-endian; this host is big-endian');
    return new Uint8Array(this.data.buffer, 0, this.rows * this.dim * 4);
  }
}

function safetensorsFile(m: Matrix, metadata: Record<string, string>): Uint8Array[] {
  const header = { __metadata__: metadata, embeddings: { dtype: 'F32', shape: [m.rows, m.dim], data_offsets: [0, m.rows * m.dim * 4] } };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // the data section stays 8-byte aligned
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return [len, json, m.bytes()];
}

/** NPY format 1.0: magic, version, header length, the dict padded with spaces to a multiple of 64, then data. */
function npyFile(m: Matrix): Uint8Array[] {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${m.rows}, ${m.dim}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const head = Buffer.alloc(total, 0x20);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(total - 10, 8);
  head.write(dict, 10, 'latin1');
  head[total - 1] = 0x0a;
  return [head, m.bytes()];
}

export async function runEmbed(o: EmbedOptions): Promise<EmbedSummary> {
  const started = performance.now();
  const format = embedFormat(o.format, o.output);
  // A matrix is written at the end: its folder is checked now, before a long run.
  if (format !== 'jsonl') {
    const dir = await stat(dirname(o.output!)).catch((e: Error) => {
      throw new OutputError(`--output ${o.output}: ${e.message}`);
    });
    if (!dir.isDirectory()) throw new OutputError(`--output ${o.output}: ${dirname(o.output!)} is not a directory`);
  }
  const showProgress = o.progress ?? Boolean(process.stderr.isTTY);
  const resolved = isRandomSpec(o.model) ? undefined : await resolveModel(o.model, o.hub);
  const model = await openModel(resolved ?? o.model, { imageSize: o.imageSize, posEmbedResample: o.posEmbed });
  model.source = o.model;
  checkRunFits(model.config, o.batchSize);
  const gpuList = async (b: BackendName) => (o.gpus && (isGpuBackend(b) || o.backend !== 'auto') ? parseGpus(o.gpus, await gpuCount(b), b) : undefined);
  // Every worker builds its session first: a backend that cannot start fails once, clearly, not per image.
  const { pool, choice } = await startPool(o.backend, async (b) => ({
    model,
    backend: b,
    workers: o.workers,
    preprocessWorkers: o.preprocessWorkers ?? defaultPreprocessWorkers(b),
    gpus: await gpuList(b),
    sessionOptions: { precision: o.precision, output: o.pool },
  }));
  if (choice) process.stderr.write(`vit: ${autoLine(choice)}\n`);
  let prov;
  try {
    prov = await provenance({ spec: o.model, resolved, model, pool: o.pool, normalize: o.normalize, backend: pool.options.backend, requested: choice?.requested, precision: o.precision });
  } catch (e) {
    await pool.close();
    throw e;
  }

  let interrupts: Interrupts | undefined;
  let bar: ProgressLine | undefined;

  let sink: OutputSink | undefined;
  const matrix = new Matrix(model.config.hiddenSize);
  const index: ({ row: number; file: string } | { file: string; error: string })[] = [];
  let total = 0;
  let failed = 0;

  const record = async (file: string, r: Outcome) => {
    if ('error' in r) failed++;
    const row = 'row' in r && o.normalize ? l2normalize(r.row) : 'row' in r ? r.row : undefined;
    if (format === 'jsonl') {
      await sink!.write(JSON.stringify(row ? { file, embedding: Array.from(row) } : { file, error: (r as { error: string }).error }));
    } else {
      index.push(row ? { row: matrix.push(row), file } : { file, error: (r as { error: string }).error });
    }
  };
  const warn = (s: string) => (bar && o.warn ? bar.around(async () => o.warn!(s)) : o.warn?.(s));

  let completed = false;
  try {
    if (pool.device) process.stderr.write(`vit: ${pool.device}\n`);
    if (format === 'jsonl') {
      sink = (await OutputSink.open(o.output, { format: 'jsonl', rowsPerRecord: 1 })).sink;
      await sink.write(JSON.stringify({ provenance: prov }));
    }
    interrupts = catchInterrupts(() => bar?.stop());
    if (showProgress) {
      const b = (bar = new ProgressLine('embed'));
      countInputs(o.paths, o.recursive).then((n) => b.setTotal(n), () => undefined);
    }
    total = await runInOrder<Outcome>(walkInputs(o.paths, o.recursive, { onLoop: (s) => void warn(s) }), {
      batchSize: o.batchSize,
      maxInFlight: Math.max(2, pool.concurrency * 2),
      run: (paths) => outputs(pool, paths),
      failed: (error) => ({ error }),
      emit: (input, r) => record(input.display, r),
      around: bar && format === 'jsonl' && !o.output ? (f) => bar!.around(f) : undefined,
      progress: (n) => bar?.update(n),
      stopped: () => interrupts?.signal !== undefined,
    });
    completed = true;
  } finally {
    bar?.stop();
    interrupts?.release();
    await pool.close();
    await sink?.close(completed);
  }
  if (format === 'safetensors') {
    const files = index.filter((x): x is { row: number; file: string } => 'row' in x).map((x) => x.file);
    const errors = index.filter((x) => 'error' in x);
    await writeFilesSafely([{ path: o.output!, data: safetensorsFile(matrix, { provenance: JSON.stringify(prov), files: JSON.stringify(files), errors: JSON.stringify(errors) }) }]);
  } else if (format === 'npy') {
    const lines = [JSON.stringify({ provenance: prov }), ...index.map((x) => JSON.stringify(x))].join('\n') + '\n';
    await writeFilesSafely([
      { path: o.output!, data: npyFile(matrix) },
      { path: sidecarIndex(o.output!), data: [Buffer.from(lines, 'utf8')] },
    ]);
  }
  return { total, failed, interrupted: interrupts?.signal, seconds: (performance.now() - started) / 1000 };
}

/** FILE.npy -> FILE.index.jsonl */
export function sidecarIndex(output: string): string {
  return `${output.replace(/\.npy$/, '')}.index.jsonl`;
}
