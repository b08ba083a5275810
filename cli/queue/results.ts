/**
 * `vit queue results --name JOB`: the job's records in the order they landed, read from its Redis stream
 * (one entry per file, written once: see redis.ts), following the stream until every submitted file has a
 * record. A progress bar on a TTY: recorded / total, failed, img/s, ETA.
 */
import { createWriteStream } from 'node:fs';
import cliProgress from 'cli-progress';
import type { FileResult } from '../../workers/protocol.js';
import { formatRecord, header } from '../output.js';
import { checkName, keys, NAMES_KEY, RedisLink } from './redis.js';

export interface ResultsOptions {
  redis: string;
  redisRetry: number;
  name: string;
  output?: string;
  format: 'jsonl' | 'csv';
  /** Keep reading until the job is complete (default); false: print what is there and stop. */
  follow: boolean;
  progress?: boolean;
}

export interface JobProgress {
  total: number;
  done: number;
  failed: number;
  chunks: number;
  /** The submit finished walking its inputs. */
  submitted: boolean;
  started?: number;
}

export async function jobProgress(redis: import('ioredis').Redis, name: string): Promise<JobProgress> {
  const k = keys(name);
  const [[, total], [, meta]] = (await redis.multi().hlen(k.files).hgetall(k.meta).exec()) as [[null, number], [null, Record<string, string>]];
  const n = (s: string | undefined) => Number(s ?? 0);
  return { total, done: n(meta.done), failed: n(meta.failed), chunks: n(meta.chunks), submitted: meta.submitted === 'complete', started: meta.started ? n(meta.started) : undefined };
}

export const isComplete = (p: JobProgress) => p.submitted && p.done + p.failed >= p.total;

export interface ResultsSummary {
  records: number;
  failed: number;
  complete: boolean;
}

export async function runResults(o: ResultsOptions): Promise<ResultsSummary> {
  const name = checkName(o.name);
  const k = keys(name);
  const link = new RedisLink({ url: o.redis, retrySeconds: o.redisRetry, who: 'vit queue results' });
  const showProgress = o.progress ?? Boolean(process.stderr.isTTY);
  const bar = showProgress
    ? new cliProgress.SingleBar(
        { format: `${name} |{bar}| {value}/{total} | {failed} failed | {rate} img/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 100 },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const out = o.output ? createWriteStream(o.output) : process.stdout;
  let outError: Error | undefined;
  out.on('error', (e: Error) => (outError ??= e));
  const write = (s: string) =>
    new Promise<void>((resolve, reject) => {
      if (outError) return reject(outError);
      if (out.write(`${s}\n`)) resolve();
      else out.once('drain', resolve);
    });
  const summary: ResultsSummary = { records: 0, failed: 0, complete: false };
  try {
    const redis = link.client();
    await link.ready(redis);
    if (!(await link.race(redis.sismember(NAMES_KEY, name)))) throw new Error(`no job "${name}" on ${o.redis.replace(/\/\/[^@/]*@/, '//***@')} (vit queue status lists them)`);
    const head = header(o.format);
    if (head) await write(head);
    const t0 = performance.now();
    let first: number | undefined;
    let lastId = '0';
    bar?.start(0, 0, { failed: 0, rate: '0.0' });
    for (;;) {
      const reply = (await link.race(redis.xread('COUNT', 1000, 'BLOCK', o.follow ? 500 : 1, 'STREAMS', k.records, lastId))) as [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        lastId = id;
        const rec = JSON.parse(fields[1]!) as { file: string } & FileResult;
        if (rec.error !== undefined) summary.failed++;
        summary.records++;
        await write(o.format === 'jsonl' ? fields[1]! : formatRecord('csv', rec.file, rec));
      }
      const p = await link.race(jobProgress(redis, name));
      if (bar) {
        first ??= summary.records;
        const seconds = (performance.now() - t0) / 1000;
        bar.setTotal(p.total);
        bar.update(summary.records, { failed: summary.failed, rate: ((summary.records - first) / Math.max(seconds, 1e-3)).toFixed(1) });
      }
      if (entries.length) continue;
      summary.complete = isComplete(p) && summary.records >= p.total;
      if (summary.complete || !o.follow) break;
    }
  } finally {
    bar?.stop();
    await link.close();
    if (o.output) await new Promise<void>((resolve) => (out as import('node:fs').WriteStream).end(resolve));
  }
  if (outError) throw new Error(`${o.output ?? 'stdout'}: write failed (${outError.message})`);
  return summary;
}
