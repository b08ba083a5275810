/**
 * `vit classify <paths...>`: every input gets exactly one output record, in input order, whatever
 * the worker count; bad inputs get an error record and the run goes on. Ctrl-C stops feeding new work,
 * waits for the batches in flight and writes what was done.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import cliProgress from 'cli-progress';
import type { PosEmbedResample } from '../model/config.js';
import type { BackendName, SessionOptions } from '../engine/session.js';
import { openModel } from '../loaders/index.js';
import { defaultPreprocessWorkers, InferencePool } from '../workers/pool.js';
import type { FileResult } from '../workers/protocol.js';
import { countInputs, walkInputs, type Input } from '../util/inputs.js';
import { formatRecord, header, type OutputFormat } from './output.js';

export interface ClassifyOptions {
  paths: string[];
  model: string;
  backend: BackendName;
  /** Threads per session, onnx precision. */
  session?: SessionOptions;
  workers?: number;
  preprocessWorkers?: number;
  batchSize: number;
  topK: number;
  imageSize?: [number, number];
  posEmbed?: PosEmbedResample;
  recursive: boolean;
  format: OutputFormat;
  output?: string;
  /** Draw a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
}

export interface ClassifySummary {
  total: number;
  failed: number;
  interrupted: boolean;
  seconds: number;
}

export async function runClassify(o: ClassifyOptions): Promise<ClassifySummary> {
  const started = performance.now();
  const showProgress = o.progress ?? Boolean(process.stderr.isTTY);
  const model = await openModel(o.model, {
    imageSize: o.imageSize,
    posEmbedResample: o.posEmbed,
    hub: { onProgress: showProgress ? downloadProgress() : undefined },
  });
  // The output file is opened before any work starts: a bad --output fails at once, naming the path.
  const out: WriteStream | NodeJS.WriteStream = o.output
    ? createWriteStream('', { fd: await open(o.output, 'w').catch((e: Error) => Promise.reject(new Error(`--output ${o.output}: ${e.message}`))) })
    : process.stdout;
  let outError: Error | undefined;
  out.on('error', (e: Error) => (outError ??= new Error(`${o.output ?? 'stdout'}: ${e.message}`)));
  const write = async (s: string) => {
    if (outError) throw outError;
    if (!out.write(`${s}\n`)) await Promise.race([once(out, 'drain'), once(out, 'error')]);
    if (outError) throw outError;
  };

  const pool = new InferencePool({
    model,
    backend: o.backend,
    workers: o.workers,
    preprocessWorkers: o.preprocessWorkers ?? defaultPreprocessWorkers(o.backend),
    session: o.session,
  });
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: stop now
    interrupted = true;
    process.stderr.write('\nvit: interrupted: finishing the batches in flight, then writing what was done (Ctrl-C again to quit now)\n');
  };
  const bar = showProgress
    ? new cliProgress.SingleBar(
        { format: 'classify |{bar}| {value}/{total} images | {rate} img/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      )
    : undefined;

  // Batches are made in input order on this thread, so results do not depend on the worker count.
  const pending = new Map<number, Promise<{ seq: number; inputs: Input[]; results: FileResult[] }>>();
  const done = new Map<number, { inputs: Input[]; results: FileResult[] }>();
  let nextToWrite = 0;
  let seq = 0;
  let total = 0;
  let failed = 0;
  let finished = 0;

  const flush = async () => {
    for (let b = done.get(nextToWrite); b; b = done.get(nextToWrite)) {
      done.delete(nextToWrite++);
      for (let i = 0; i < b.inputs.length; i++) {
        const r = b.results[i]!;
        if (r.error !== undefined) failed++;
        await write(formatRecord(o.format, b.inputs[i]!.display, r));
      }
    }
  };
  const settleOne = async () => {
    const r = await Promise.race(pending.values());
    pending.delete(r.seq);
    done.set(r.seq, r);
    finished += r.inputs.length;
    bar?.update(finished, { rate: (finished / ((performance.now() - started) / 1000)).toFixed(1) });
    await flush();
  };
  const submit = (inputs: Input[]) => {
    const s = seq++;
    total += inputs.length;
    // Inputs that failed before reaching a worker (an unreadable directory) keep their place in the order.
    const work = inputs.every((i) => i.error !== undefined)
      ? Promise.resolve({ results: inputs.map((i) => ({ error: i.error! })) })
      : pool.classify(inputs.map((i) => i.path), o.topK);
    pending.set(
      s,
      work.then((r) => ({ seq: s, inputs, results: r.results })),
    );
  };

  try {
    // Every worker builds its session first: a backend that cannot start fails once, clearly, not per image.
    await pool.ready();
    const head = header(o.format);
    if (head) await write(head);
    process.on('SIGINT', onSigint);
    if (bar) {
      bar.start(0, 0, { rate: '0.0' });
      countInputs(o.paths, o.recursive).then((n) => bar.setTotal(n), () => undefined);
    }
    const maxInFlight = Math.max(2, pool.concurrency * 2);
    let batch: Input[] = [];
    for await (const input of walkInputs(o.paths, o.recursive)) {
      if (interrupted) break;
      if (input.error !== undefined) {
        if (batch.length) submit(batch);
        submit([input]);
        batch = [];
      } else {
        batch.push(input);
        if (batch.length === o.batchSize) {
          submit(batch);
          batch = [];
        }
      }
      while (pending.size >= maxInFlight) await settleOne();
    }
    if (batch.length && !interrupted) submit(batch);
    while (pending.size) await settleOne();
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
    await pool.close();
    if (out !== process.stdout) {
      (out as WriteStream).end();
      await once(out, 'close').catch(() => undefined);
    }
  }
  return { total, failed, interrupted, seconds: (performance.now() - started) / 1000 };
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
