/**
 * Redis connections of `vit queue`: ioredis clients that reconnect on their own (ioredis retryStrategy) for
 * at most `retrySeconds` from the moment the server went away, then give up with a message that says where and
 * why. The queue's own keys (records, per-file state, counters) live here too.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** The BullMQ queue every `vit queue` command uses (BullMQ keys: bull:vit-classify:*). */
export const QUEUE = 'vit-classify';

/** Job names become part of BullMQ job ids and Redis keys. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw new Error(`--name must be 1-100 of A-Z a-z 0-9 . _ - (starting with a letter or digit), got "${name}"`);
  return name;
}

/** Our keys for job `name`. */
export function keys(name: string) {
  const base = `vit:job:${name}`;
  return {
    /** Hash: file -> "0" submitted, not yet recorded; "1" recorded. HLEN is the job's total. */
    files: `${base}:files`,
    /** Stream: one entry per recorded file, field r = the jsonl record, in landing order. */
    records: `${base}:records`,
    /** Hash: done, failed (records), chunks (submitted), submitted ("walking" | "complete"), started (ms). */
    meta: `${base}:meta`,
  };
}
/** Set of job names. */
export const NAMES_KEY = 'vit:jobs';

/**
 * Records a batch of results, each file at most once: a file whose state is already "1" is left alone, so a
 * chunk that is redone (its worker died) or finished twice adds nothing. Atomic, as every Redis script is.
 * KEYS: files, records, meta. ARGV: (file, record, failed 0|1) triples. Returns the records added.
 */
const RECORD_SCRIPT = `
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= '1' then
    redis.call('HSET', KEYS[1], ARGV[i], '1')
    redis.call('XADD', KEYS[2], '*', 'r', ARGV[i + 1])
    redis.call('HINCRBY', KEYS[3], ARGV[i + 2] == '1' and 'failed' or 'done', 1)
    added = added + 1
  end
end
return added
`;

export interface RecordClient extends Redis {
  vitRecord(files: string, records: string, meta: string, ...args: string[]): Promise<number>;
}

export function withoutPassword(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export interface LinkOptions {
  url: string;
  /** How long to keep reconnecting once the server is gone (also at start). */
  retrySeconds: number;
  /** Prefix of the messages on stderr. */
  who: string;
}

/**
 * One Redis server as seen by one command: clients made here share the down-since clock, say once that the
 * server went away and once that it is back, and `lost` rejects when reconnecting gave up.
 */
export class RedisLink {
  readonly lost: Promise<never>;
  private fail!: (e: Error) => void;
  private downSince: number | undefined;
  private lastError = '';
  private readonly clients: Redis[] = [];
  private closing = false;
  private everReady = false;

  constructor(readonly o: LinkOptions) {
    if (!/^rediss?:\/\//.test(o.url)) throw new Error(`--redis takes redis://[user:password@]host[:port][/db] or rediss://..., got "${withoutPassword(o.url)}"`);
    this.lost = new Promise<never>((_, reject) => (this.fail = reject));
    this.lost.catch(() => undefined);
  }

  /** The server went away (or was never there): say so once, and start the clock. */
  private down(why: string) {
    if (this.downSince !== undefined || this.closing) return;
    this.downSince = Date.now();
    const where = withoutPassword(this.o.url);
    process.stderr.write(`${this.o.who}: ${this.everReady ? 'lost' : 'cannot reach'} Redis at ${where} (${why}); reconnecting for up to ${this.o.retrySeconds} s\n`);
  }

  private retryStrategy = (times: number): number | null => {
    this.down(this.lastError || 'connection closed');
    if (this.closing) return null;
    if (Date.now() - this.downSince! >= this.o.retrySeconds * 1000) {
      const where = withoutPassword(this.o.url);
      this.fail(
        new Error(
          this.everReady
            ? `lost Redis at ${where} and could not reconnect for ${this.o.retrySeconds} s (${this.lastError || 'connection closed'})`
            : `cannot reach Redis at ${where} (${this.lastError || 'connection closed'}; tried for ${this.o.retrySeconds} s). Start one with \`redis-server --port 6379\` or \`docker run -p 6379:6379 redis\``,
        ),
      );
      return null;
    }
    return Math.min(100 * 2 ** Math.min(times, 5), 1000);
  };

  /** A new client. BullMQ needs maxRetriesPerRequest null (commands wait for the reconnection). */
  client(): RecordClient {
    const opts: RedisOptions = { maxRetriesPerRequest: null, retryStrategy: this.retryStrategy, connectionName: this.o.who.replace(/\W+/g, '-') };
    const c = new Redis(this.o.url, opts);
    c.defineCommand('vitRecord', { numberOfKeys: 3, lua: RECORD_SCRIPT });
    c.on('error', (e: Error) => {
      this.lastError = e.message || String(e);
      this.down(this.lastError);
    });
    c.on('ready', () => {
      if (this.downSince !== undefined && this.everReady && !this.closing) process.stderr.write(`${this.o.who}: Redis is back\n`);
      this.everReady = true;
      this.downSince = undefined;
      this.lastError = '';
    });
    this.clients.push(c);
    return c as RecordClient;
  }

  /** Resolves when `c` answers, rejects when reconnecting gives up. */
  async ready(c: Redis): Promise<void> {
    await Promise.race([c.ping(), this.lost]);
  }

  /** `p`, unless the connection is lost first. */
  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.lost]);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.clients.map((c) => (c.status === 'ready' ? c.quit().then(() => undefined, () => c.disconnect()) : c.disconnect())));
  }
}
