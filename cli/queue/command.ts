/**
 * `vit queue submit | work | results | status`: batch classification over a BullMQ queue on Redis. The
 * subcommands load bullmq and ioredis only when they run.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { BackendName, Precision } from '../../engine/session.js';

export interface QueueCliHelpers {
  count: (name: string, max?: { max: number; why: string }) => (v: string) => number;
  backendOption: () => Option;
  /** The backend to run: the one named (checked), or the default for this machine. */
  resolveBackend: (named: string | undefined, precision?: Precision) => Promise<BackendName>;
  precisionOption: () => Option;
  workersCap: { max: number; why: string };
  batchCap: { max: number; why: string };
  exit: { ok: number; someFailed: number };
}

const CHUNK_CAP = { max: 10_000, why: 'files one queue job carries' };

function seconds(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number of seconds`);
    return n;
  };
}

export function queueCommand(h: QueueCliHelpers): Command {
  const queue = new Command('queue').description('batch classification over a Redis-backed job queue (BullMQ): submit, work, results, status');
  const redisOptions = (c: Command) =>
    c
      .option('--redis <url>', 'Redis server (redis://[user:password@]host[:port][/db])', 'redis://127.0.0.1:6379')
      .option('--redis-retry <s>', 'keep reconnecting to a lost or absent Redis for this long, then fail (exit 2)', seconds('--redis-retry'), 30);

  redisOptions(
    queue
      .command('submit')
      .description('walk the inputs and enqueue them in chunks; submitting again under the same --name adds no work')
      .argument('<paths...>', 'image files and/or directories, on storage every worker can read')
      .option('--name <job>', 'job name (default: job-<hash of the paths>)')
      .option('--chunk <n>', 'files per chunk (the unit a worker takes)', h.count('--chunk', CHUNK_CAP), 64)
      .option('--no-recursive', 'do not descend into subdirectories'),
  ).action(async (paths: string[], o) => {
    const { runSubmit } = await import('./submit.js');
    const s = await runSubmit({ ...o, paths });
    console.error(`vit queue submit: job ${s.name}: ${s.files} file(s) in ${s.chunks} chunk(s)${s.skipped ? `, ${s.skipped} chunk(s) already recorded` : ''}`);
    console.log(s.name);
  });

  redisOptions(
    queue
      .command('work')
      .description('take chunks from the queue and classify them on the local worker pool until SIGTERM / SIGINT')
      .option('--model <dir|hub-id|random:arch>', 'checkpoint directory, hub id or random:<arch>', 'google/vit-base-patch16-224')
      .addOption(h.backendOption())
      .addOption(h.precisionOption())
      .option('--workers <n>', 'pool worker threads (default: CPU count for CPU backends, 1 for GPU backends)', h.count('--workers', h.workersCap))
      .option('--preprocess-workers <n>', 'GPU backends: decode-only CPU workers feeding the GPU worker(s)', (v: string) => (v === '0' ? 0 : h.count('--preprocess-workers', h.workersCap)(v)))
      .option('--batch-size <n>', 'images per forward pass', h.count('--batch-size', h.batchCap), 8)
      .option('--top-k <n>', 'classes recorded per image', h.count('--top-k'), 5)
      .addOption(new Option('--pos-embed <style>', "position-embedding resampling (default: the checkpoint format's own)").choices(['hf', 'timm']))
      .option('--lock <s>', 'chunk lock: a dead worker\'s chunk is taken again after about twice this', seconds('--lock'), 30),
  ).action(async (o) => {
    const { runWork } = await import('./work.js');
    const s = await runWork({ ...o, lockSeconds: o.lock, backend: await h.resolveBackend(o.backend, o.precision), precision: o.precision as Precision | undefined });
    console.error(`vit queue work[${process.pid}]: ${s.files} file(s) in ${s.chunks} chunk(s), ${s.failed} failed${s.stoppedBy ? `; stopped by ${s.stoppedBy}` : ''}`);
    process.exitCode = h.exit.ok;
  });

  redisOptions(
    queue
      .command('results')
      .description("print a job's records as they land (jsonl or csv, like classify), until every file has one")
      .requiredOption('--name <job>', 'job name')
      .option('--output <file>', 'write the records here instead of stdout')
      .addOption(new Option('--format <fmt>', 'output format').choices(['jsonl', 'csv']).default('jsonl'))
      .option('--no-follow', 'print the records there are now and stop')
      .option('--no-progress', 'no progress bar (it is drawn only on a TTY anyway)'),
  ).action(async (o) => {
    const { runResults } = await import('./results.js');
    const s = await runResults({ ...o, progress: o.progress === false ? false : undefined });
    console.error(`vit queue results: ${o.name}: ${s.records - s.failed} classified, ${s.failed} failed${s.complete ? '' : ' (not complete yet)'}`);
    process.exitCode = s.failed ? h.exit.someFailed : h.exit.ok;
  });

  redisOptions(
    queue
      .command('status')
      .description('jobs (recorded / failed / total) and the queue (chunks waiting, active, failed; workers)')
      .option('--name <job>', 'only this job')
      .option('--json', 'machine-readable output'),
  ).action(async (o) => {
    const { runStatus } = await import('./status.js');
    await runStatus(o);
  });
  return queue;
}
