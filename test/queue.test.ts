/**
 * `vit queue` against a real redis-server (test/helpers/redis.ts), through the built CLI, with the tiny
 * fixture model on real photos plus broken files; and `vit classify --shard`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chunkId } from '../cli/queue/submit.js';
import { MAX_STALLED } from '../cli/queue/work.js';
import { fnv1a, parseShard } from '../util/shard.js';
import { MODELS, PHOTOS, REPO } from './helpers/paths.js';
import { startRedis } from './helpers/redis.js';

const run = promisify(execFile);
const CLI = join(REPO, 'dist/cli/vit.js');
const TINY = join(MODELS, 'hf-tiny');
const PHOTO_FILES = readdirSync(PHOTOS).filter((f) => /\.(jpg|png)$/.test(f));

const server = await startRedis('the queue tests');

interface Rec {
  file: string;
  top?: { index: number; score: number }[];
  error?: string;
}

async function vit(args: string[], timeout = 60_000): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  try {
    const r = await run('node', [CLI, ...args], { maxBuffer: 1 << 26, timeout });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr, ms: Date.now() - t0 };
  }
}

/** A client for the test's own reads; the server going down on purpose is not an error here. */
function client(): Redis {
  const c = new Redis(server!.url);
  c.on('error', () => undefined);
  return c;
}

const lines = (s: string) => s.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);

/** A `vit queue work` process; `exited` resolves to its exit code (or signal name). */
function startWorker(extra: string[] = []): { child: ChildProcess; exited: Promise<number | string>; log: () => string } {
  const child = spawn('node', [CLI, 'queue', 'work', '--redis', server!.url, '--model', TINY, '--workers', '1', '--lock', '1.5', '--redis-retry', '3', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return { child, exited, log: () => log };
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('shards (no Redis)', () => {
  it('parses i/n and refuses the rest', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    for (const bad of ['5/5', '1', '-1/3', 'a/b', '0/0']) expect(() => parseShard(bad), bad).toThrow(/--shard takes i\/n/);
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });

  it('the shards of a classify run are disjoint, keep its order, and together are the unsharded run', async () => {
    const base = ['classify', PHOTOS, '--model', TINY, '--workers', '1', '--format', 'jsonl'];
    const all = lines((await vit(base)).stdout);
    expect(all.length).toBeGreaterThan(15);
    const shards = await Promise.all([0, 1, 2].map(async (i) => lines((await vit([...base, '--shard', `${i}/3`])).stdout)));
    for (const s of shards) {
      expect(s.length).toBeGreaterThan(0);
      const at = s.map((r) => all.findIndex((a) => a.file === r.file));
      expect(at).toEqual([...at].sort((a, b) => a - b));
    }
    const union = shards.flat().sort((a, b) => a.file.localeCompare(b.file));
    expect(union).toEqual([...all].sort((a, b) => a.file.localeCompare(b.file)));
    const bad = await vit([...base, '--shard', '3/3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--shard takes i\/n/);
  });
});

describe.skipIf(!server)('vit queue on a real redis-server', () => {
  let dir: string;
  let redis: Redis;
  const workers: ChildProcess[] = [];
  const BAD = ['broken/truncated.jpg', 'broken/not-an-image.jpg', 'broken/empty.png'];

  beforeAll(() => {
    redis = client();
    dir = mkdtempSync(join(tmpdir(), 'vit-queue-'));
    // photos/: each photo 4 times (symlinks), broken/: three bad files.
    mkdirSync(join(dir, 'photos'));
    mkdirSync(join(dir, 'broken'));
    for (let i = 0; i < 4; i++) for (const f of PHOTO_FILES) symlinkSync(realpathSync(join(PHOTOS, f)), join(dir, 'photos', `${i}-${f}`));
    const jpg = readFileSync(join(PHOTOS, 'HappyFish.jpg'));
    writeFileSync(join(dir, BAD[0]!), jpg.subarray(0, jpg.length >> 1));
    writeFileSync(join(dir, BAD[1]!), 'not a JPEG\n');
    writeFileSync(join(dir, BAD[2]!), '');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server!.stop();
  });

  const expected = () => [...BAD, ...PHOTO_FILES.flatMap((f) => [0, 1, 2, 3].map((i) => `photos/${i}-${f}`))].sort();
  const recorded = async (name: string) => Number((await redis.hget(`vit:job:${name}:meta`, 'done')) ?? 0) + Number((await redis.hget(`vit:job:${name}:meta`, 'failed')) ?? 0);

  it('two workers: every input exactly once, errors included; results equal classify; re-submitting adds nothing', async () => {
    const paths = [dir];
    const sub = await vit(['queue', 'submit', ...paths, '--redis', server!.url, '--name', 'two', '--chunk', '5']);
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stdout.trim()).toBe('two');
    const total = expected().length;
    expect(sub.stderr).toContain(`${total} file(s) in ${Math.ceil(total / 5)} chunk(s)`);
    const again = await vit(['queue', 'submit', ...paths, '--redis', server!.url, '--name', 'two', '--chunk', '5']);
    expect(again.code).toBe(0);
    const status = JSON.parse((await vit(['queue', 'status', '--redis', server!.url, '--name', 'two', '--json'])).stdout);
    expect(status.queue.waiting).toBe(Math.ceil(total / 5)); // the same chunk ids: nothing added twice
    expect(status.jobs[0]).toMatchObject({ name: 'two', total, done: 0, failed: 0, submitted: true, complete: false });

    const a = startWorker(['--batch-size', '2']);
    const b = startWorker(['--batch-size', '3']);
    workers.push(a.child, b.child);
    const res = await vit(['queue', 'results', '--redis', server!.url, '--name', 'two']);
    expect(res.code, res.stderr).toBe(1); // some inputs failed
    const recs = lines(res.stdout);
    expect(recs.map((r) => r.file).sort()).toEqual(expected());
    for (const r of recs) {
      if (BAD.includes(r.file)) expect(r.error, r.file).toContain(r.file.split('/')[1]);
      else expect(r.top, r.file).toHaveLength(5);
    }
    // Both workers took chunks.
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    for (const w of [a, b]) expect(w.log()).toMatch(/: [1-9]\d* file\(s\) in [1-9]\d* chunk\(s\)/);

    // The same records as classify (scores to float noise: batches differ).
    const cls = lines((await vit(['classify', ...paths, '--model', TINY, '--workers', '1', '--format', 'jsonl'])).stdout);
    const byFile = new Map(recs.map((r) => [r.file, r]));
    for (const c of cls) {
      const q = byFile.get(c.file)!;
      expect(q.error === undefined, c.file).toBe(c.error === undefined);
      if (c.top) expect(q.top!.map((t) => t.index), c.file).toEqual(c.top.map((t) => t.index));
    }

    // Submitting a finished job again enqueues nothing; csv and --no-follow read the same records.
    const done = await vit(['queue', 'submit', ...paths, '--redis', server!.url, '--name', 'two', '--chunk', '5']);
    expect(done.stderr).toContain(`${Math.ceil(total / 5)} chunk(s) already recorded`);
    const csv = await vit(['queue', 'results', '--redis', server!.url, '--name', 'two', '--format', 'csv', '--no-follow']);
    const rows = csv.stdout.trim().split('\n');
    expect(rows[0]).toBe('file,rank,index,label,score,error');
    expect(rows.length).toBe(1 + (total - BAD.length) * 5 + BAD.length);
    const st = await vit(['queue', 'status', '--redis', server!.url]);
    expect(st.stdout).toContain(`two: complete, ${total}/${total} recorded (${total - BAD.length} classified, ${BAD.length} failed)`);
    expect(st.stdout).toMatch(/0 chunk\(s\) waiting, 0 active/);
  });

  it('a worker killed with -9 mid-chunk loses nothing: another takes the chunk again, each file recorded once', async () => {
    const files = join(dir, 'photos');
    const n = readdirSync(files).length;
    const sub = await vit(['queue', 'submit', files, '--redis', server!.url, '--name', 'kill', '--chunk', String(n)]);
    expect(sub.code, sub.stderr).toBe(0);
    const a = startWorker(['--batch-size', '1']);
    workers.push(a.child);
    await until('the first record', async () => (await recorded('kill')) > 0);
    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const byA = await recorded('kill');
    expect(byA).toBeLessThan(n); // it died mid-chunk
    const b = startWorker(['--batch-size', '4']);
    workers.push(b.child);
    const res = await vit(['queue', 'results', '--redis', server!.url, '--name', 'kill']);
    expect(res.code, res.stderr).toBe(0);
    const recs = lines(res.stdout);
    expect(recs.map((r) => r.file).sort()).toEqual(readdirSync(files).map((f) => `${f}`).sort());
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    // B classified only what A had not recorded.
    expect(b.log()).toContain(`: ${n - byA} file(s) in 1 chunk(s), 0 failed; stopped by SIGTERM`);
  });

  it('a chunk that keeps killing its worker process ends failed (bounded takes); its unrecorded files get error records', async () => {
    const files = join(dir, 'photos');
    const n = readdirSync(files).length;
    await vit(['queue', 'submit', files, '--redis', server!.url, '--name', 'doom', '--chunk', String(n)]);
    let before = 0;
    // Taken and killed MAX_STALLED + 1 times: each new worker recovers the chunk, records a file or more, dies.
    for (let i = 0; i <= MAX_STALLED; i++) {
      const w = startWorker(['--batch-size', '1']);
      workers.push(w.child);
      await until(`a record from worker ${i + 1}`, async () => (await recorded('doom')) > before);
      w.child.kill('SIGKILL');
      await w.exited;
      before = await recorded('doom');
    }
    expect(before).toBeLessThan(n);
    const last = startWorker();
    workers.push(last.child);
    const res = await vit(['queue', 'results', '--redis', server!.url, '--name', 'doom']);
    expect(res.code).toBe(1);
    const recs = lines(res.stdout);
    expect(recs.map((r) => r.file).sort()).toEqual(readdirSync(files).sort());
    const errors = recs.filter((r) => r.error !== undefined);
    expect(errors.length).toBe(n - before);
    for (const e of errors) expect(e.error).toMatch(/^not classified: chunk doom\.0\.[0-9a-f]+ failed after \d+ attempt\(s\) \(job stalled more than allowable limit\)$/);
    expect(recs.slice(0, before).every((r) => r.top)).toBe(true);
  });

  it('SIGTERM: the chunk in hand is finished, no other is taken, exit 0', async () => {
    const files = join(dir, 'photos');
    const n = readdirSync(files).length;
    const chunk = Math.ceil(n / 2);
    await vit(['queue', 'submit', files, '--redis', server!.url, '--name', 'term', '--chunk', String(chunk)]);
    const a = startWorker(['--batch-size', '1']);
    workers.push(a.child);
    await until('the first record', async () => (await recorded('term')) > 0);
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await recorded('term')).toBe(chunk);
    const st = JSON.parse((await vit(['queue', 'status', '--redis', server!.url, '--name', 'term', '--json'])).stdout);
    expect(st.queue.waiting).toBe(1);
    expect(st.jobs[0]).toMatchObject({ total: n, done: chunk, complete: false });
    // A later worker finishes the job.
    const b = startWorker();
    workers.push(b.child);
    const res = await vit(['queue', 'results', '--redis', server!.url, '--name', 'term']);
    expect(lines(res.stdout).length).toBe(n);
  });

  it('Redis lost mid-run: the worker reconnects when it is back within --redis-retry, and fails clearly when not', async () => {
    const w = startWorker();
    workers.push(w.child);
    await until('the worker to wait for chunks', () => w.log().includes('waiting for chunks'));
    await server!.down();
    await until('the worker to notice', () => /reconnecting for up to 3 s/.test(w.log()), 10_000);
    await server!.up();
    await until('the worker to reconnect', () => w.log().includes('Redis is back'), 10_000);
    redis.disconnect();
    redis = client();
    // The restarted server is empty: a new job goes through the same worker.
    await vit(['queue', 'submit', join(dir, 'broken'), '--redis', server!.url, '--name', 'back']);
    const res = await vit(['queue', 'results', '--redis', server!.url, '--name', 'back']);
    expect(lines(res.stdout).map((r) => r.file).sort()).toEqual(['empty.png', 'not-an-image.jpg', 'truncated.jpg']);
    // Gone for longer than --redis-retry: exit 2, saying so.
    const t0 = Date.now();
    await server!.down();
    expect(await w.exited).toBe(2);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(w.log()).toMatch(/lost Redis at redis:\/\/127\.0\.0\.1:\d+ and could not reconnect for 3 s/);
    await server!.up();
    redis.disconnect();
    redis = client();
  });

  it('Redis unreachable: a clear message and exit 2 after --redis-retry, not a hang', async () => {
    const r = await vit(['queue', 'submit', dir, '--redis', 'redis://127.0.0.1:1', '--redis-retry', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*tried for 1 s\)\. Start one with `redis-server --port 6379`/);
    expect(r.ms).toBeLessThan(10_000);
    const bad = await vit(['queue', 'status', '--redis', 'http://x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--redis takes redis://');
    const url = await vit(['queue', 'submit', 'https://example.com/cat.jpg', '--redis', server!.url]);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('not URLs');
    const name = await vit(['queue', 'submit', dir, '--redis', server!.url, '--name', 'a:b']);
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('--name must be');
  });

  it('chunk ids are deterministic: name, index, hash of the files', () => {
    const items: [string, string][] = [['/d/a.jpg', 'a.jpg'], ['/d/b.jpg', 'b.jpg']];
    expect(chunkId('j', 3, items)).toBe(chunkId('j', 3, [...items]));
    expect(chunkId('j', 3, items)).toMatch(/^j\.3\.[0-9a-f]{16}$/);
    expect(chunkId('j', 3, items)).not.toBe(chunkId('j', 3, [items[1]!, items[0]!]));
  });
});
