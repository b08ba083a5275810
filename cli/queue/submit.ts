/**
 * `vit queue submit <paths...>`: walks the inputs lazily (one directory listing and one group of chunks in
 * memory at a time) and enqueues chunks of files as BullMQ jobs.
 *
 * A chunk's job id is `NAME.INDEX.HASH` (HASH: sha1 of the chunk's files), so submitting the same inputs
 * under the same name again adds no job that is still queued, and a chunk whose files are all recorded is
 * not enqueued again: nothing is classified twice.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { walkInputs } from '../../util/inputs.js';
import { checkName, keys, NAMES_KEY, QUEUE, RedisLink, type RecordClient } from './redis.js';

export interface SubmitOptions {
  paths: string[];
  redis: string;
  redisRetry: number;
  name?: string;
  chunk: number;
  recursive: boolean;
}

/** What a chunk job carries: [path every worker opens, name the record gives] per file. */
export interface ChunkData {
  name: string;
  items: [path: string, file: string][];
}

/** Chunk retries when a chunk fails (not per image: bad images are error records). */
export const CHUNK_ATTEMPTS = 3;

/** Chunks enqueued per round trip. */
const GROUP = 32;

export interface SubmitSummary {
  name: string;
  files: number;
  chunks: number;
  /** Chunks not enqueued because every file in them is recorded already. */
  skipped: number;
}

export function defaultName(paths: string[]): string {
  return `job-${createHash('sha1').update(paths.map((p) => resolve(p)).join('\0')).digest('hex').slice(0, 10)}`;
}

export function chunkId(name: string, index: number, items: ChunkData['items']): string {
  const h = createHash('sha1');
  for (const [path, file] of items) h.update(path).update('\0').update(file).update('\0');
  return `${name}.${index}.${h.digest('hex').slice(0, 16)}`;
}

export async function runSubmit(o: SubmitOptions): Promise<SubmitSummary> {
  const url = o.paths.find((p) => /^https?:\/\//i.test(p));
  if (url) throw new Error(`${url}: vit queue takes files and directories on storage every worker reads, not URLs (download them there first)`);
  const name = checkName(o.name ?? defaultName(o.paths));
  const k = keys(name);
  const link = new RedisLink({ url: o.redis, retrySeconds: o.redisRetry, who: 'vit queue submit' });
  try {
    const redis = link.client();
    await link.ready(redis);
    const { Queue } = await import('bullmq');
    const queue = new Queue<ChunkData>(QUEUE, {
      connection: link.client(),
      defaultJobOptions: { attempts: CHUNK_ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: false },
    });
    queue.on('error', () => undefined); // the link reports connection trouble once
    await link.race(redis.multi().sadd(NAMES_KEY, name).hset(k.meta, 'submitted', 'walking').hsetnx(k.meta, 'started', String(Date.now())).exec());

    let files = 0;
    let chunks = 0;
    let skipped = 0;
    let group: { id: string; items: ChunkData['items'] }[] = [];
    let items: ChunkData['items'] = [];
    const flushGroup = async () => {
      if (!group.length) return;
      const r = await link.race(enqueue(redis, queue, name, group));
      skipped += r;
      group = [];
    };
    const endChunk = async () => {
      if (!items.length) return;
      group.push({ id: chunkId(name, chunks++, items), items });
      items = [];
      if (group.length >= GROUP) await flushGroup();
    };
    for await (const input of walkInputs(o.paths, o.recursive)) {
      files++;
      if (input.error !== undefined) {
        // Nothing to classify (an unreadable directory): its error record is written now.
        await link.race(redis.vitRecord(k.files, k.records, k.meta, input.display, JSON.stringify({ file: input.display, error: input.error }), '1'));
        continue;
      }
      items.push([resolve(input.path), input.display]);
      if (items.length >= o.chunk) await endChunk();
    }
    await endChunk();
    await flushGroup();
    await link.race(redis.hset(k.meta, 'submitted', 'complete', 'chunks', String(chunks)));
    await queue.close();
    return { name, files, chunks, skipped };
  } finally {
    await link.close();
  }
}

/**
 * Registers the group's files (state "0" unless recorded already) and adds the chunks that still have a file
 * to classify. Returns how many chunks were skipped.
 */
async function enqueue(redis: RecordClient, queue: import('bullmq').Queue<ChunkData>, name: string, group: { id: string; items: ChunkData['items'] }[]): Promise<number> {
  const k = keys(name);
  const m = redis.multi();
  for (const c of group) m.hmget(k.files, ...c.items.map((i) => i[1]));
  const states = (await m.exec())!.map(([err, v]) => {
    if (err) throw err;
    return v as (string | null)[];
  });
  const todo = group.filter((_, j) => states[j]!.some((s) => s !== '1'));
  if (todo.length) {
    const reg = redis.multi();
    for (const c of todo) for (const [, file] of c.items) reg.hsetnx(k.files, file, '0');
    await reg.exec();
    await queue.addBulk(todo.map((c) => ({ name, data: { name, items: c.items }, opts: { jobId: c.id } })));
  }
  return group.length - todo.length;
}
