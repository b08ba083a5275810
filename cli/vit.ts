#!/usr/bin/env node
/** The `vit` command. Each subcommand lives in its own file under cli/. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ALL_BACKENDS, type BackendName, type Precision } from '../engine/session.js';

const program = new Command();
program
  .name('vit')
  .description('Vision Transformer inference for Node.js: HF and timm ViT checkpoints, CPU and WebGPU backends')
  .showHelpAfterError();

/** A positive integer (counts and sizes); 0, negatives and fractions are refused up front. */
function count(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

const BACKENDS_HELP =
  'onnx (CPU, onnxruntime-node; the default when it is installed), wasm (CPU, XNNPACK; the default otherwise), cpu (plain JS), tensorflow (needs @tensorflow/tfjs-node), webgpu (GPU)';

const backendOption = () => new Option('--backend <name>', BACKENDS_HELP).choices(ALL_BACKENDS as string[]);

const precisionOption = () =>
  new Option('--precision <p>', 'onnx backend: fp32, or int8 (block GEMM weights quantised per column, activations per tensor at run time)')
    .choices(['fp32', 'int8'])
    .default('fp32');

const threadsOption = () => new Option('--threads <n>', 'threads per worker session (onnx intra-op, wasm XNNPACK)').argParser(count('--threads'));

/**
 * The backend a command runs: the one named, else the default CPU backend for what is installed. Fails
 * here, in one line, when the backend's package is missing or the precision does not apply.
 */
async function resolveBackend(named: string | undefined, precision: Precision = 'fp32'): Promise<BackendName> {
  const { defaultCpuBackend, checkBackend } = await import('../engine/session.js');
  const backend = (named as BackendName | undefined) ?? (await defaultCpuBackend());
  if (precision !== 'fp32' && backend !== 'onnx') throw new Error(`--precision ${precision} is only for --backend onnx`);
  await checkBackend(backend);
  return backend;
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
    const cmp = await runCompare({ ...o, backend: await resolveBackend(o.backend, o.precision) });
    process.exitCode = cmp.pass ? 0 : 1;
  });

program
  .command('inspect')
  .description('print a checkpoint: format, config, tensor count, parameter count, dtypes')
  .argument('<model>', 'checkpoint directory, safetensors file or hub id')
  .option('--json', 'machine-readable output')
  .action(async (model: string, o: { json?: boolean }) => {
    const { runInspect } = await import('./inspect.js');
    await runInspect(model, Boolean(o.json));
  });

program
  .command('classify')
  .description('classify images (files and directories), one output record per input in input order')
  .argument('<paths...>', 'image files and/or directories')
  .option('--model <dir|hub-id|random:arch>', 'checkpoint directory, hub id (org/name[@revision]) or random:<arch>', 'google/vit-base-patch16-224')
  .addOption(backendOption())
  .option('--workers <n>', 'worker threads (default: CPU count for CPU backends, 1 for webgpu)', count('--workers'))
  .option('--batch-size <n>', 'images per forward pass', count('--batch-size'), 8)
  .option('--preprocess-workers <n>', 'GPU backends: decode in this many CPU-only workers feeding the GPU worker(s) (default: CPU count - 2; 0: GPU workers decode)', (v: string) => (v === '0' ? 0 : count('--preprocess-workers')(v)))
  .addOption(threadsOption())
  .addOption(precisionOption())
  .option('--top-k <n>', 'classes to print per image', count('--top-k'), 5)
  .option('--image-size <N|HxW>', "run at another resolution (position embedding resampled; default: the model's own)")
  .addOption(new Option('--pos-embed <style>', "position-embedding resampling (default: the checkpoint format's own)").choices(['hf', 'timm']))
  .option('--no-recursive', 'do not descend into subdirectories')
  .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'jsonl', 'csv']).default('table'))
  .option('--output <file>', 'write results here instead of stdout')
  .option('--no-progress', 'no progress bar (it is drawn only on a TTY anyway)')
  .action(async (paths: string[], o) => {
    const { runClassify } = await import('./classify.js');
    const { parseImageSize } = await import('../loaders/index.js');
    const s = await runClassify({
      ...o,
      paths,
      backend: await resolveBackend(o.backend, o.precision),
      session: { threads: o.threads, precision: o.precision as Precision },
      imageSize: o.imageSize ? parseImageSize(o.imageSize) : undefined,
      progress: o.progress === false ? false : undefined,
    });
    const rate = s.total / Math.max(s.seconds, 1e-9);
    console.error(
      `vit: ${s.total - s.failed}/${s.total} classified, ${s.failed} failed, ${s.seconds.toFixed(1)} s (${rate.toFixed(1)} img/s)${s.interrupted ? ', interrupted' : ''}`,
    );
    process.exitCode = s.interrupted ? 130 : s.failed ? 1 : 0;
  });

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
  .option('--backend <list>', `backends, comma-separated (${ALL_BACKENDS.join(', ')}; default: onnx when onnxruntime-node is installed, else wasm)`)
  .option('--workers <list>', 'worker counts, comma-separated', numberList('--workers'), [1])
  .option('--batch-size <list>', 'batch sizes, comma-separated', numberList('--batch-size'), [8])
  .option('--image-size <list>', 'square image sizes, comma-separated', numberList('--image-size'), [224])
  .option('--warmup <n>', 'untimed batches per lane (worker x runs in flight) before timing', (v: string) => (v === '0' ? 0 : count('--warmup')(v)), 1)
  .option('--iterations <n>', 'timed batches per lane (one lane per CPU worker, two per GPU worker)', count('--iterations'))
  .option('--duration <s>', 'time each combination for this many seconds instead', number('--duration'))
  .addOption(new Option('--mode <mode>', 'model: forward pass only; end-to-end: decode + preprocess + forward').choices(['model', 'end-to-end']).default('model'))
  .option('--images <dir>', 'images for --mode end-to-end')
  .addOption(threadsOption())
  .addOption(precisionOption())
  .option('--preprocess-workers <n>', 'GPU backends, end-to-end: decode-only CPU workers feeding the GPU worker(s) (default: CPU count - 2; 0: GPU workers decode)', (v: string) => (v === '0' ? 0 : count('--preprocess-workers')(v)))
  .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'json', 'csv']).default('table'))
  .option('--output <file>', 'write the results here instead of stdout')
  .option('--report <file.html>', 'also write a self-contained HTML report with charts')
  .action(async (o) => {
    const { runBench } = await import('../bench/run.js');
    const { formatCsv, formatJson, formatTable } = await import('../bench/format.js');
    const backends = o.backend === undefined ? [undefined] : String(o.backend).split(',').map((b) => b.trim() as BackendName);
    for (const b of backends) if (b !== undefined && !ALL_BACKENDS.includes(b)) throw new Error(`--backend: unknown backend "${b}" (${ALL_BACKENDS.join(', ')})`);
    const resolved: BackendName[] = [];
    for (const b of backends) resolved.push(await resolveBackend(b, o.precision));
    const report = await runBench({
      model: o.model,
      backends: resolved,
      workers: o.workers,
      threads: o.threads,
      precision: o.precision as Precision,
      batchSizes: o.batchSize,
      imageSizes: o.imageSize,
      warmup: o.warmup,
      iterations: o.iterations ?? (o.duration === undefined ? 10 : undefined),
      duration: o.duration,
      mode: o.mode,
      images: o.images,
      preprocessWorkers: o.preprocessWorkers,
      onResult: (r) =>
        console.error(
          `bench: ${r.backend} ${r.mode} ${r.imageSize}px batch ${r.batchSize} workers ${r.workers}: ${r.imagesPerSecond.toFixed(1)} img/s, p50 ${r.latencyMs.p50.toFixed(1)} ms`,
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
  });

program.parseAsync().catch((e: Error) => {
  console.error(`vit: ${e.message}`);
  process.exit(process.exitCode && process.exitCode !== 0 ? process.exitCode : 2);
});
