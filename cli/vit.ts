#!/usr/bin/env node
/** The `vit` command. Each subcommand lives in its own file under cli/. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ALL_BACKENDS, type BackendName } from '../engine/session.js';

const program = new Command();
program
  .name('vit')
  .description('Vision Transformer inference for Node.js: HF and timm ViT checkpoints, CPU and WebGPU backends')
  .showHelpAfterError();

function number(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

const backendOption = (dflt?: string) =>
  new Option('--backend <name>', 'wasm (CPU, default), cpu (plain JS), tensorflow (needs @tensorflow/tfjs-node), webgpu (GPU)')
    .choices(ALL_BACKENDS as string[])
    .default(dflt ?? 'wasm');

program
  .command('compare')
  .description("run a model on a reference fixture's pixels and compare with the reference logits; exit 0 only if all agree")
  .requiredOption('--model <dir|hub-id>', 'checkpoint directory, safetensors file or hub id')
  .requiredOption('--fixture <file>', 'safetensors fixture with pixel_values [N,3,H,W] and logits [N,K]')
  .option('--atol <x>', 'absolute tolerance', number('--atol'), 1e-4)
  .option('--rtol <x>', 'relative tolerance', number('--rtol'), 1e-4)
  .option('--batch-size <n>', 'rows per forward pass (default: all)', number('--batch-size'))
  .addOption(new Option('--pos-embed <style>', "position-embedding resampling (default: the checkpoint format's own)").choices(['hf', 'timm']))
  .addOption(backendOption())
  .action(async (o) => {
    const { runCompare } = await import('./compare.js');
    const cmp = await runCompare({ ...o, backend: o.backend as BackendName });
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
  .option('--workers <n>', 'worker threads (default: CPU count for CPU backends, 1 for webgpu)', number('--workers'))
  .option('--batch-size <n>', 'images per forward pass', number('--batch-size'), 8)
  .option('--top-k <n>', 'classes to print per image', number('--top-k'), 5)
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
      backend: o.backend as BackendName,
      imageSize: o.imageSize ? parseImageSize(o.imageSize) : undefined,
      progress: o.progress === false ? false : undefined,
    });
    const rate = s.total / Math.max(s.seconds, 1e-9);
    console.error(
      `vit: ${s.total - s.failed}/${s.total} classified, ${s.failed} failed, ${s.seconds.toFixed(1)} s (${rate.toFixed(1)} img/s)${s.interrupted ? ', interrupted' : ''}`,
    );
    process.exitCode = s.interrupted ? 130 : s.failed ? 1 : 0;
  });

program.parseAsync().catch((e: Error) => {
  console.error(`vit: ${e.message}`);
  process.exit(process.exitCode && process.exitCode !== 0 ? process.exitCode : 2);
});
