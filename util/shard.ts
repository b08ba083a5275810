/**
 * `--shard i/n`: a deterministic split of an input walk for batch schedulers (Slurm arrays, Kubernetes
 * indexed jobs). An input belongs to shard FNV-1a(name) mod n, so membership depends on its own name only:
 * the shards are disjoint, their union is the whole walk, and each shard keeps the walk's order.
 */
export interface Shard {
  /** 0-based: 0 <= index < count. */
  index: number;
  count: number;
}

export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new Error(`--shard takes i/n with 0 <= i < n (e.g. 0/4, the first of four), got "${v}"`);
  }
  return { index, count };
}

/** 32-bit FNV-1a of the UTF-8 bytes of `s`. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

export function inShard(name: string, shard: Shard): boolean {
  return fnv1a(name) % shard.count === shard.index;
}

/** The inputs of `walk` that belong to `shard` (all of them when it is undefined). */
export async function* takeShard<T extends { display: string }>(walk: AsyncIterable<T>, shard: Shard | undefined): AsyncGenerator<T> {
  for await (const x of walk) if (!shard || inShard(x.display, shard)) yield x;
}
