/**
 * `vit queue work`: a long-running consumer. It takes one chunk at a time from the queue, classifies it on
 * the local InferencePool (any backend) and records one result per file as each batch ends.
 *
 * Nothing is lost, nothing is recorded twice:
 * - BullMQ hands a chunk to one worker under a lock that this process renews; a worker killed with -9 stops
 *   renewing, and after `lockSeconds` another worker's stalled-job check puts the chunk back in the queue.
 * - A record is written by one atomic script that skips a file already recorded (redis.ts), and a worker
 *   taking a chunk skips its recorded files, so a redone chunk adds only the files its first worker missed.
 * - A chunk that keeps failing (CHUNK_ATTEMPTS tries, or stalled more than MAX_STALLED times, e.g. an image
 *   that kills the whole process) ends failed, and its unrecorded files get error records.
 * SIGINT / SIGTERM: stop taking chunks, finish the one in hand, exit 0 (a second signal: quit at once).
 */
import type { Job } from 'bullmq';
import type { PosEmbedResample } from '../../model/config.js';
import type { BackendName, Precision } from '../../engine/session.js';
import { openModel } from '../../loaders/index.js';
import { defaultPreprocessWorkers, InferencePool } from '../../workers/pool.js';
import { checkRunFits } from '../limits.js';
import { formatRecord } from '../output.js';
import { keys, QUEUE, RedisLink, type RecordClient } from './redis.js';
import type { ChunkData } from './submit.js';

export interface WorkOptions {
  redis: string;
  redisRetry: number;
  model: string;
  backend: BackendName;
  precision?: Precision;
  workers?: number;
  preprocessWorkers?: number;
  batchSize: number;
  topK: number;
  posEmbed?: PosEmbedResample;
  /** Chunk lock; a dead worker's chunk is taken again after about this long (and one stalled-check period). */
  lockSeconds: number;
}

/** Times a chunk may be taken from a dead worker before it is failed. */
export const MAX_STALLED = 2;

export interface WorkSummary {
  chunks: number;
  files: number;
  failed: number;
  stoppedBy?: 'SIGINT' | 'SIGTERM';
}

export async function runWork(o: WorkOptions): Promise<WorkSummary> {
  const who = `vit queue work[${process.pid}]`;
  const link = new RedisLink({ url: o.redis, retrySeconds: o.redisRetry, who });
  const redis = link.client();
  // Redis first: a wrong URL is said before the model loads.
  await link.ready(redis).catch(async (e) => {
    await link.close();
    throw e;
  });
  const model = await openModel(o.model, { posEmbedResample: o.posEmbed });
  checkRunFits(model.config, o.batchSize);
  const pool = new InferencePool({
    model,
    backend: o.backend,
    workers: o.workers,
    preprocessWorkers: o.preprocessWorkers ?? defaultPreprocessWorkers(o.backend),
    sessionOptions: { precision: o.precision },
  });
  const summary: WorkSummary = { chunks: 0, files: 0, failed: 0 };
  const { Worker } = await import('bullmq');
  let worker: import('bullmq').Worker<ChunkData> | undefined;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (summary.stoppedBy) process.exit(sig === 'SIGINT' ? 130 : 143);
    summary.stoppedBy = sig;
    process.stderr.write(`${who}: ${sig}: taking no more chunks, finishing the one in hand (again to quit now)\n`);
    void worker?.close();
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    await pool.ready();
    if (pool.device) process.stderr.write(`${who}: ${pool.device}\n`);
    if (summary.stoppedBy) return summary;
    worker = new Worker<ChunkData>(QUEUE, (job) => processChunk(job, pool, redis, o, summary), {
      connection: link.client(),
      autorun: false,
      concurrency: 1,
      lockDuration: o.lockSeconds * 1000,
      stalledInterval: o.lockSeconds * 1000,
      maxStalledCount: MAX_STALLED,
    });
    worker.on('error', () => undefined); // the link reports connection trouble once
    worker.on('failed', (job, err) => {
      if (job) void recordChunkFailure(job, err, redis).catch((e: Error) => process.stderr.write(`${who}: chunk ${job.id}: ${e.message}\n`));
    });
    process.stderr.write(`${who}: waiting for chunks on ${QUEUE} (${o.backend}, ${pool.workers} pool worker(s), batch ${o.batchSize})\n`);
    await link.race(worker.run());
    return summary;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await worker?.close(true).catch(() => undefined);
    await pool.close();
    await link.close();
  }
}

async function processChunk(job: Job<ChunkData>, pool: InferencePool, redis: RecordClient, o: WorkOptions, summary: WorkSummary) {
  const { name, items } = job.data;
  const k = keys(name);
  const states = await redis.hmget(k.files, ...items.map((i) => i[1]));
  const todo = items.filter((_, j) => states[j] !== '1');
  const batches: ChunkData['items'][] = [];
  for (let i = 0; i < todo.length; i += o.batchSize) batches.push(todo.slice(i, i + o.batchSize));
  // Enough batches in flight to keep every pool worker busy; each batch is recorded as soon as it ends.
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const b = batches[next++]!;
      const r = await pool.classify(b.map((i) => i[0]), o.topK);
      const args: string[] = [];
      b.forEach(([, file], i) => {
        const res = r.results[i]!;
        if (res.error !== undefined) summary.failed++;
        args.push(file, formatRecord('jsonl', file, res), res.error !== undefined ? '1' : '0');
      });
      await redis.vitRecord(k.files, k.records, k.meta, ...args);
      summary.files += b.length;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, pool.concurrency * 2) }, lane));
  summary.chunks++;
  return { files: items.length, classified: todo.length };
}

/** A chunk that failed for good: its files without a record get an error record saying why. */
async function recordChunkFailure(job: Job<ChunkData>, err: Error, redis: RecordClient): Promise<void> {
  if (!(await job.isFailed())) return; // it will be retried
  const { name, items } = job.data;
  const k = keys(name);
  const states = await redis.hmget(k.files, ...items.map((i) => i[1]));
  const args: string[] = [];
  items.forEach(([, file], j) => {
    if (states[j] === '1') return;
    const error = `not classified: chunk ${job.id} failed after ${job.attemptsMade} attempt(s) (${err.message})`;
    args.push(file, JSON.stringify({ file, error }), '1');
  });
  if (args.length) await redis.vitRecord(k.files, k.records, k.meta, ...args);
}
