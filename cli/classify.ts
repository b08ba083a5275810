/**
 * `vit classify <paths...>`: every input gets exactly one output record, in input order, whatever
 * the worker count; bad inputs get an error record and the run goes on. Ctrl-C (or SIGTERM) stops feeding
 * new work, waits for the batches in flight and writes what was done. Where records go, and --resume: sink.ts.
 */
import cliProgress from 'cli-progress';
import type { ResolveOptions } from '../loaders/hub.js';
import type { PosEmbedResample } from '../model/config.js';
import { gpuCount, parseGpus } from '../engine/gpus.js';
import { outputWidth } from '../model/shapes.js';
import { autoLine, isGpuBackend, type BackendName, type BackendRequest, type Precision } from '../engine/session.js';
import { openModel } from '../loaders/index.js';
import { defaultPreprocessWorkers, startPool } from '../workers/pool.js';
import type { FileResult } from '../workers/protocol.js';
import { walkInputs } from '../util/inputs.js';
import { takeShard, type Shard } from '../util/shard.js';
import { runInOrder } from './in-order.js';
import { catchInterrupts, type Interrupt, type Interrupts } from './interrupt.js';
import { checkRunFits } from './limits.js';
import { ProgressLine } from './progress.js';
import { formatRecord, header, type OutputFormat } from './output.js';
import { recordKey } from './resume.js';
import { OutputSink } from './sink.js';

export interface ClassifyOptions {
  paths: string[];
  model: string;
  /** A backend, or 'auto' (the fastest that starts here; the choice is said on stderr). */
  backend: BackendRequest;
  precision?: Precision;
  /** Threads per session (onnx intra-op, wasm XNNPACK; default 1). */
  threads?: number;
  workers?: number;
  preprocessWorkers?: number;
  /** GPU backends: --gpus all|N|list. */
  gpus?: string;
  batchSize: number;
  topK: number;
  imageSize?: [number, number];
  posEmbed?: PosEmbedResample;
  recursive: boolean;
  format: OutputFormat;
  output?: string;
  /** Skip inputs already recorded in `output`; append the rest. */
  resume?: boolean;
  /** Draw a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /** Only this shard of the walk (util/shard.ts). */
  shard?: Shard;
  /** Hub options (onResolve: say which endpoint a hub id is resolved on). */
  hub?: ResolveOptions;
  /** Messages for stderr (a symlink loop not followed). */
  warn?: (s: string) => void;
}

export interface ClassifySummary {
  total: number;
  failed: number;
  /** Inputs skipped because --resume found them in the output. */
  skipped: number;
  /** The signal that stopped the run early. */
  interrupted?: Interrupt;
  seconds: number;
}

export async function runClassify(o: ClassifyOptions): Promise<ClassifySummary> {
  const started = performance.now();
  const showProgress = o.progress ?? Boolean(process.stderr.isTTY);
  const model = await openModel(o.model, {
    imageSize: o.imageSize,
    posEmbedResample: o.posEmbed,
    hub: { ...o.hub, onProgress: showProgress ? downloadProgress() : undefined },
  });
  checkRunFits(model.config, o.batchSize);
  // Every worker builds its session first: a backend that cannot start fails once, clearly, not per image.
  const { pool, choice } = await startPool(o.backend, async (b: BackendName) => ({
    model,
    backend: b,
    workers: o.workers,
    preprocessWorkers: o.preprocessWorkers ?? defaultPreprocessWorkers(b),
    gpus: o.gpus && (isGpuBackend(b) || o.backend !== 'auto') ? parseGpus(o.gpus, await gpuCount(b), b) : undefined,
    sessionOptions: { precision: o.precision, threads: o.threads },
  }));
  if (choice) process.stderr.write(`vit: ${autoLine(choice)}\n`);
  let interrupts: Interrupts | undefined;
  let sink: OutputSink | undefined;
  const write = (s: string) => sink!.write(s);
  let bar: ProgressLine | undefined;

  let total = 0;
  let failed = 0;
  let skipped = 0;

  let completed = false;
  try {
    if (pool.device) process.stderr.write(`vit: ${pool.device}\n`);
    // The output is opened only now: a failed set-up leaves an existing file untouched.
    const rowsPerRecord = Math.min(o.topK, outputWidth(model.config));
    const opened = await OutputSink.open(o.output, { resume: o.resume, format: o.format, rowsPerRecord });
    sink = opened.sink;
    const recorded = opened.recorded;
    const head = header(o.format);
    if (head && (!recorded || recorded.empty)) await write(head);
    interrupts = catchInterrupts(() => bar?.stop());
    if (showProgress) {
      const b = (bar = new ProgressLine('classify'));
      countShard(o.paths, o.recursive, o.shard).then((n) => b.setTotal(n - skipped), () => undefined);
    }
    const warn = (m: string) => (bar && o.warn ? bar.around(async () => o.warn!(m)) : o.warn?.(m));
    // Batches are made in input order on this thread, so results do not depend on the worker count.
    total = await runInOrder<FileResult>(takeShard(walkInputs(o.paths, o.recursive, { onLoop: (m) => void warn(m) }), o.shard), {
      batchSize: o.batchSize,
      maxInFlight: Math.max(2, pool.concurrency * 2),
      run: async (paths) => (await pool.classify(paths, o.topK)).results,
      failed: (error) => ({ error }),
      emit: async (input, r) => {
        if (r.error !== undefined) failed++;
        await write(formatRecord(o.format, input.display, r));
      },
      // Records to the terminal the bar is on are written with the bar cleared and drawn again below them.
      around: bar && !o.output ? (f) => bar!.around(f) : undefined,
      progress: (n) => bar?.update(n),
      stopped: () => interrupts?.signal !== undefined,
      skip: (input) => (recorded?.names.has(recordKey(o.format, input.display)) ? (skipped++, true) : false),
    });
    completed = true;
  } finally {
    bar?.stop();
    interrupts?.release();
    await pool.close();
    // A write error surfaces here even when the run itself failed first (it says how many records were written).
    await sink?.close(completed);
  }
  return { total, failed, skipped, interrupted: interrupts?.signal, seconds: (performance.now() - started) / 1000 };
}

/** The progress bar's total: the shard's inputs (names only), counted beside the real walk. */
async function countShard(paths: string[], recursive: boolean, shard: Shard | undefined): Promise<number> {
  let n = 0;
  for await (const _ of takeShard(walkInputs(paths, recursive), shard)) n++;
  return n;
}

function downloadProgress() {
  const bars = new cliProgress.MultiBar({ format: 'download {file} |{bar}| {percentage}%', hideCursor: true, stopOnComplete: true }, cliProgress.Presets.shades_classic);
  const byFile = new Map<string, cliProgress.SingleBar>();
  return (p: { file: string; loaded: number; total?: number }) => {
    let b = byFile.get(p.file);
    if (!b) {
      b = bars.create(p.total ?? 0, 0, { file: p.file });
      byFile.set(p.file, b);
    }
    if (p.total) b.setTotal(p.total);
    b.update(p.loaded, { file: p.file });
    if (p.total && p.loaded >= p.total) b.stop();
  };
}
