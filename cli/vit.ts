#!/usr/bin/env node
/** The `vit` command. Each subcommand lives in its own file under cli/. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ALL_BACKENDS, ALL_PRECISIONS, autoLine, type BackendName, type BackendRequest, type Precision } from '../engine/session.js';
import { parseShard } from '../util/shard.js';
import { queueCommand } from './queue/command.js';
import { shutdown } from '../util/shutdown.js';
import { capWhy, MAX_BATCH_SIZE, MAX_IMAGE_SIDE, maxWorkers } from './limits.js';

/**
 * Exit codes, the same for every subcommand: 0 all done (also when stdout's reader went away); 1 some inputs
 * failed (classify, embed), disagreed (compare) or some combinations failed (bench); 2 usage, set-up or output
 * error; 130 / 143 interrupted by SIGINT / SIGTERM.
 */
export const EXIT = { ok: 0, someFailed: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

// A signal nobody else handles (classify handles its own, to finish the batches in flight) ends the run: the
// worker pools close first and no new one starts (util/shutdown.ts; running batches finish, at most 10 s), since
// a native backend (onnxruntime, Dawn) torn down mid-run aborts the process. A second signal ends it at once.
let ending = false;
for (const [sig, code] of [['SIGINT', EXIT.sigint], ['SIGTERM', EXIT.sigterm]] as const) {
  process.on(sig, () => {
    if (process.listenerCount(sig) !== 1) return;
    if (ending) process.exit(code);
    ending = true;
    setTimeout(() => process.exit(code), 10_000).unref();
    void shutdown().finally(() => process.exit(code));
  });
}

// `vit ... | head -1`: once the reader has gone, there is nobody to tell; end quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(EXIT.ok);
});

/** Said on stderr before a hub id is looked up online. */
const hub = { onResolve: (id: string, endpoint: string) => process.stderr.write(`vit: resolving ${id} on ${endpoint}\n`) };

/** Inputs named on the command line must exist: checked before the model loads. */
async function checkInputs(paths: string[]): Promise<void> {
  const { missingPaths } = await import('../util/inputs.js');
  const missing = await missingPaths(paths);
  if (missing.length) throw new Error(`no such file or directory: ${missing.join(', ')}`);
}

const warn = (s: string) => process.stderr.write(`vit: ${s}\n`);

const program = new Command();
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

program
  .name('vit')
  .version(version, '-V, --version', 'print the version')
  .description('Vision Transformer inference for Node.js: HF and timm ViT checkpoints, CPU and WebGPU backends')
  .exitOverride() // inherited by the subcommands: usage errors reach the catch below and exit 2
  // A usage error is one line, the reason, and a hint (set per command below), not the whole help.
  .configureOutput({ outputError: (str, write) => write(`${str.trim().replace(/\s*\n\s*/g, ' ')}\n`) });

/** A positive integer (counts and sizes); 0, negatives, fractions and values over `max` are refused up front. */
function count(name: string, max?: { max: number; why: string }) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    if (max && n > max.max) throw new InvalidArgumentError(capWhy(name, max.max, max.why));
    return n;
  };
}
const WORKERS_CAP = { max: maxWorkers(), why: '4 per CPU core, at most 256' };
const BATCH_CAP = { max: MAX_BATCH_SIZE, why: 'images decoded and run at once' };

function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

const BACKENDS_HELP =
  'onnx (CPU, onnxruntime-node; the default CPU backend when it is installed), wasm (CPU, XNNPACK; the default CPU backend otherwise), cpu (plain JS), tensorflow (needs @tensorflow/tfjs-node), webgpu (GPU, any vendor), cuda (NVIDIA GPU; needs koffi)';

/** compare and queue work: a named backend, else the default CPU backend (resolveBackend). */
const backendOption = () => new Option('--backend <name>', BACKENDS_HELP).choices(ALL_BACKENDS as string[]);

/** classify and embed: 'auto' (the default) takes the fastest backend that starts here and says why on stderr. */
const autoBackendOption = () =>
  new Option('--backend <name>', `auto (default: cuda, else webgpu on a hardware adapter, else the best CPU backend; the choice is said on stderr), ${BACKENDS_HELP}`)
    .choices(['auto', ...ALL_BACKENDS])
    .default('auto');

const threadsOption = () => new Option('--threads <n>', 'threads per worker session (onnx intra-op, wasm XNNPACK)').argParser(count('--threads'));

/**
 * The backend a command runs: the one named, else the default CPU backend for what is installed. Fails
 * here, in one line, when the backend's package is missing (onnx) or it lacks the precision asked for.
 */
async function resolveBackend(named: string | undefined, precision?: Precision): Promise<BackendName> {
  const { checkBackend, checkPrecision, defaultCpuBackend } = await import('../engine/session.js');
  const backend = (named as BackendName | undefined) ?? (await defaultCpuBackend());
  if (precision) checkPrecision(backend, precision);
  await checkBackend(backend);
  return backend;
}

/** classify, embed and bench: 'auto' (or nothing named) stays 'auto' (engine/auto.ts); a named backend is checked as in resolveBackend. */
async function resolveRequest(named: string | undefined, precision?: Precision): Promise<BackendRequest> {
  return named === undefined || named === 'auto' ? 'auto' : resolveBackend(named, precision);
}

const precisionOption = () =>
  new Option('--precision <p>', 'arithmetic (default: the backend\'s own): cuda fp32, tf32, bf16 (default), fp16; webgpu fp32 (default), fp16 (f16 storage, f32 accumulation); onnx fp32 (default), int8 (block GEMM weights quantised per column, activations per tensor at run time); other CPU backends fp32').choices(ALL_PRECISIONS as string[]);

function precisionList(v: string): Precision[] {
  const ps = v.split(',').map((x) => x.trim());
  for (const p of ps) if (!ALL_PRECISIONS.includes(p as Precision)) throw new InvalidArgumentError(`--precision takes ${ALL_PRECISIONS.join(', ')} (comma-separated)`);
  return ps as Precision[];
}

program
  .command('compare')
  .description("run a model on a reference fixture's pixels and compare with the reference logits; exit 0 only if all agree")
  .requiredOption('--model <dir|hub-id>', 'checkpoint directory, safetensors file or hub id')
  .requiredOption('--fixture <file>', 'safetensors fixture with pixel_values [N,3,H,W] and logits [N,K]')
  .option('--atol <x>', 'absolute tolerance', number('--atol'), 1e-4)
  .option('--rtol <x>', 'relative tolerance', number('--rtol'), 1e-4)
  .option('--batch-size <n>', 'rows per forward pass (default: all)', count('--batch-size'))
  .addOption(new Option('--pos-embed <style>', "position-embedding resampling (default: the checkpoint format's own)").choices(['hf', 'timm']))
  .addOption(backendOption())
  .addOption(precisionOption())
  .action(async (o) => {
    const { runCompare } = await import('./compare.js');
    const cmp = await runCompare({ ...o, backend: await resolveBackend(o.backend, o.precision), precision: o.precision as Precision | undefined });
    process.exitCode = cmp.pass ? 0 : 1;
  });

program
  .command('inspect')
  .description('print a checkpoint: format, config, tensor count, parameter count, dtypes')
  .argument('<model>', 'checkpoint directory, safetensors file, hub id or random:<arch>')
  .option('--json', 'machine-readable output')
  .action(async (model: string, o: { json?: boolean }) => {
    const { runInspect } = await import('./inspect.js');
    await runInspect(model, Boolean(o.json), console.log, hub);
  });

/** The options classify and embed share: the model, where and how it runs, and how inputs are walked. */
function withRunOptions(c: Command): Command {
  return c
    .option('--model <dir|hub-id|random:arch>', 'checkpoint directory, hub id (org/name[@revision]) or random:<arch>', 'google/vit-base-patch16-224')
    .addOption(autoBackendOption())
    .addOption(precisionOption())
    .option('--workers <n>', 'worker threads (default: CPU count for CPU backends, 1 for GPU backends)', count('--workers', WORKERS_CAP))
    .option('--batch-size <n>', 'images per forward pass', count('--batch-size', BATCH_CAP), 8)
    .option('--preprocess-workers <n>', 'GPU backends: decode in this many CPU-only workers feeding the GPU worker(s) (default: CPU count - 2; 0: GPU workers decode)', (v: string) => (v === '0' ? 0 : count('--preprocess-workers', WORKERS_CAP)(v)))
    .option('--gpus <all|N|list>', 'GPU backends: spread over these devices (all, a count, or ordinals like 0,2,3), one GPU worker each')
    .option('--image-size <N|HxW>', "run at another resolution (position embedding resampled; default: the model's own)")
    .addOption(new Option('--pos-embed <style>', "position-embedding resampling (default: the checkpoint format's own)").choices(['hf', 'timm']))
    .option('--no-recursive', 'do not descend into subdirectories');
}

/** What withRunOptions' raw values become for runClassify / runEmbed. */
async function runArgs(o: { backend?: string; precision?: string; imageSize?: string; progress?: boolean }) {
  return {
    backend: await resolveRequest(o.backend, o.precision as Precision | undefined),
    precision: o.precision as Precision | undefined,
    imageSize: await imageSizeOption(o.imageSize),
    progress: o.progress === false ? false : undefined,
    hub,
    warn,
  };
}

const classifyCommand = program
  .command('classify')
  .description('classify images (files and directories), one output record per input in input order')
  .argument('<paths...>', 'image files and/or directories');
withRunOptions(classifyCommand)
  .addOption(threadsOption())
  .option('--top-k <n>', 'classes to print per image', count('--top-k'), 5)
  .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'jsonl', 'csv']).default('table'))
  .option('--output <file>', 'write results here instead of stdout')
  .option('--resume', 'skip inputs already recorded in --output and append the rest (a torn last record is redone)')
  .option('--no-progress', 'no progress bar (it is drawn only on a TTY anyway)')
  .option('--shard <i/n>', 'only shard i of n (0-based) of the sorted walk, split by a hash of each name (batch schedulers)', (v: string) => {
    try {
      return parseShard(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  })
  .action(async (paths: string[], o) => {
    await checkInputs(paths);
    const { runClassify } = await import('./classify.js');
    const s = await runClassify({
      ...o,
      ...(await runArgs(o)),
      paths,
    });
    summarize('classified', s, s.skipped ? `, ${s.skipped} skipped (already in ${o.output})` : '');
  });

async function imageSizeOption(v: string | undefined): Promise<[number, number] | undefined> {
  if (!v) return undefined;
  const { parseImageSize } = await import('../loaders/index.js');
  const size = parseImageSize(v);
  if (Math.max(...size) > MAX_IMAGE_SIDE) throw new Error(capWhy('--image-size', MAX_IMAGE_SIDE, 'longest side in pixels'));
  return size;
}

/** The summary line on stderr, and the exit code. */
function summarize(verb: string, s: { total: number; failed: number; seconds: number; interrupted?: 'SIGINT' | 'SIGTERM' }, extra = ''): void {
  const rate = s.total / Math.max(s.seconds, 1e-9);
  console.error(
    `vit: ${s.total - s.failed}/${s.total} ${verb}, ${s.failed} failed${extra}, ${s.seconds.toFixed(1)} s (${rate.toFixed(1)} img/s)${s.interrupted ? `, interrupted (${s.interrupted})` : ''}`,
  );
  process.exitCode = s.interrupted === 'SIGINT' ? EXIT.sigint : s.interrupted === 'SIGTERM' ? EXIT.sigterm : s.failed ? EXIT.someFailed : EXIT.ok;
}

const embedCommand = program
  .command('embed')
  .description('feature vectors of images (files and directories): the class token or the mean of the patch tokens, one per input in input order')
  .argument('<paths...>', 'image files and/or directories');
withRunOptions(embedCommand)
  .addOption(new Option('--pool <kind>', 'cls: the final-norm class token; mean: the mean of the final-norm patch tokens').choices(['cls', 'mean']).default('cls'))
  .option('--normalize', 'scale each vector to unit L2 norm')
  .addOption(new Option('--format <fmt>', 'jsonl (default), or a float32 matrix: safetensors, npy (default: from the --output extension)').choices(['jsonl', 'safetensors', 'npy']))
  .option('--output <file>', 'write here instead of stdout (FILE.safetensors / FILE.npy: a matrix; npy adds FILE.index.jsonl)')
  .option('--no-progress', 'no progress bar (it is drawn only on a TTY anyway)')
  .action(async (paths: string[], o) => {
    const { embedFormat, runEmbed } = await import('./embed.js');
    embedFormat(o.format, o.output);
    await checkInputs(paths);
    const s = await runEmbed({
      ...o,
      ...(await runArgs(o)),
      paths,
      normalize: Boolean(o.normalize),
    });
    summarize('embedded', s);
  });

function sizeList(v: string): [number, number][] {
  return v.split(',').map((x) => {
    const m = /^(\d+)(?:x(\d+))?$/.exec(x.trim());
    const size = m ? [Number(m[1]), Number(m[2] ?? m[1])] as [number, number] : undefined;
    if (!size || size.some((n) => n <= 0)) throw new InvalidArgumentError('--image-size takes sizes N or HxW (e.g. 224 or 224x320), comma-separated');
    return size;
  });
}

function numberList(name: string) {
  return (v: string) => {
    const xs = v.split(',').map((x) => Number(x.trim()));
    if (!xs.length || xs.some((x) => !Number.isInteger(x) || x <= 0)) throw new InvalidArgumentError(`${name} takes positive integers, comma-separated`);
    return xs;
  };
}

program
  .command('bench')
  .description('throughput (images/s) and per-batch latency for each backend x workers x batch size x image size')
  .option('--model <dir|hub-id|random:arch>', 'model; random:<arch> needs no download (e.g. random:vit-base-patch16-224)', 'random:vit-base-patch16-224')
  .option('--backend <list>', `backends, comma-separated (auto, ${ALL_BACKENDS.join(', ')}; default auto: the fastest that starts here)`, 'auto')
  .option('--precision <list>', "precisions, comma-separated (cuda: fp32, tf32, bf16, fp16; webgpu: fp32, fp16; onnx: fp32, int8; default: each backend's own); a backend skips those it lacks", precisionList)
  .option('--workers <list>', 'worker counts, comma-separated', numberList('--workers'), [1])
  .option('--batch-size <list>', 'batch sizes, comma-separated', numberList('--batch-size'), [8])
  .option('--image-size <list>', 'image sizes, N or HxW, comma-separated (e.g. 224,224x320)', sizeList, [[224, 224]])
  .option('--warmup <n>', 'untimed batches per lane (worker x runs in flight) before timing', (v: string) => (v === '0' ? 0 : count('--warmup')(v)), 1)
  .option('--iterations <n>', 'timed batches per lane (one lane per CPU worker, two per GPU worker)', count('--iterations'))
  .option('--duration <s>', 'time each combination for this many seconds instead', number('--duration'))
  .option('--in-flight <n>', 'batches kept in flight (default: one per CPU worker, two per GPU worker); 1 measures latency', count('--in-flight'))
  .addOption(new Option('--mode <mode>', 'model: forward pass only; end-to-end: decode + preprocess + forward').choices(['model', 'end-to-end']).default('model'))
  .option('--images <dir>', 'images for --mode end-to-end')
  .addOption(threadsOption())
  .option('--preprocess-workers <n>', 'GPU backends, end-to-end: decode-only CPU workers feeding the GPU worker(s) (default: CPU count - 2; 0: GPU workers decode)', (v: string) => (v === '0' ? 0 : count('--preprocess-workers')(v)))
  .option('--gpus <list>', 'GPU backends: device sets to compare, separated by ";" (each: all, a count, or ordinals like 0,1), e.g. "1;2;all"')
  .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'json', 'csv']).default('table'))
  .option('--output <file>', 'write the results here instead of stdout')
  .option('--report <file.html>', 'also write a self-contained HTML report with charts')
  .action(async (o) => {
    const { runBench } = await import('../bench/run.js');
    const { formatCsv, formatJson, formatTable, sizeLabel } = await import('../bench/format.js');
    const backends = String(o.backend).split(',').map((b) => b.trim());
    for (const b of backends) if (b !== 'auto' && !ALL_BACKENDS.includes(b as BackendName)) throw new Error(`--backend: unknown backend "${b}" (auto, ${ALL_BACKENDS.join(', ')})`);
    const resolved: BackendRequest[] = [];
    for (const b of backends) resolved.push(await resolveRequest(b));
    const report = await runBench({
      model: o.model,
      backends: resolved,
      precisions: o.precision,
      gpus: o.gpus ? String(o.gpus).split(';').map((x: string) => x.trim()) : undefined,
      workers: o.workers,
      threads: o.threads,
      batchSizes: o.batchSize,
      imageSizes: o.imageSize,
      warmup: o.warmup,
      iterations: o.iterations ?? (o.duration === undefined ? 10 : undefined),
      duration: o.duration,
      inFlight: o.inFlight,
      mode: o.mode,
      images: o.images,
      preprocessWorkers: o.preprocessWorkers,
      hub,
      onChoice: (c) => console.error(`vit: ${autoLine(c)}`),
      onResult: (r) =>
        console.error(
          `bench: ${r.backend}${r.precision ? ` ${r.precision}` : ''} ${r.mode} ${sizeLabel(r)}px batch ${r.batchSize} workers ${r.workers}: ` +
            (r.error !== undefined ? `FAILED: ${r.error}` : `${r.imagesPerSecond.toFixed(1)} img/s, p50 ${r.latencyMs.p50.toFixed(1)} ms${r.device ? ` (${r.device})` : ''}`),
        ),
    });
    const text = o.format === 'json' ? formatJson(report) : o.format === 'csv' ? formatCsv(report) : formatTable(report);
    const { writeFile } = await import('node:fs/promises');
    if (o.output) await writeFile(o.output, text);
    else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    if (o.report) {
      const { renderHtmlReport } = await import('../bench/report.js');
      await writeFile(o.report, renderHtmlReport(report));
      console.error(`bench: report written to ${o.report}`);
    }
    const failed = report.results.filter((r) => r.error !== undefined).length;
    if (failed) {
      console.error(`bench: ${failed} of ${report.results.length} combinations failed (marked with their error)`);
      process.exitCode = EXIT.someFailed;
    }
  });

program
  .command('doctor')
  .description('what runs here: Node and CPU features, every backend (works, or exactly why not), the model cache, a self-test per working backend')
  .option('--json', 'machine-readable output')
  .action(async (o: { json?: boolean }) => {
    const { runDoctor, formatDoctor } = await import('./doctor.js');
    const report = await runDoctor();
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    // Dawn's instance keeps the event loop alive: end once the report is out.
    process.stdout.write('', () => process.exit(report.backends.some((b) => b.works) ? EXIT.ok : EXIT.usage));
  });

program.addCommand(
  queueCommand({ count, backendOption, precisionOption, resolveBackend, workersCap: WORKERS_CAP, batchCap: BATCH_CAP, exit: EXIT }),
);

// A usage error ends with the way to the command's help.
for (const c of program.commands) c.showHelpAfterError(`see 'vit ${c.name()} --help'`);
program.showHelpAfterError("see 'vit --help'");

program.parseAsync().catch((e: Error) => {
  // Commander has printed its own message (usage error) or the help / version (exit code 0).
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  if (ending) return; // a signal is ending the run (its pools closing fail what was queued): it sets the exit code
  console.error(`vit: ${e.message}`);
  process.exit(EXIT.usage);
});
