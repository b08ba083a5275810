/**
 * Plans per batch size for GPU sessions: up to `perBatch` of each, so one batch's upload and read-back overlap
 * another's kernels; a run takes a free plan, builds one while fewer exist, else waits for one to be released.
 */
export class PlanPool<P extends { batch: number }> {
  private readonly pools = new Map<number, { free: P[]; count: number; waiters: ((p: P) => void)[] }>();

  constructor(private readonly perBatch: number) {}

  async acquire(batch: number, build: () => P | Promise<P>): Promise<P> {
    let pool = this.pools.get(batch);
    if (!pool) this.pools.set(batch, (pool = { free: [], count: 0, waiters: [] }));
    const free = pool.free.pop();
    if (free) return free;
    if (pool.count < this.perBatch) {
      pool.count++;
      try {
        return await build();
      } catch (e) {
        pool.count--;
        throw e;
      }
    }
    const p = pool;
    return new Promise<P>((resolve) => p.waiters.push(resolve));
  }

  release(plan: P): void {
    const pool = this.pools.get(plan.batch)!;
    const next = pool.waiters.shift();
    if (next) next(plan);
    else pool.free.push(plan);
  }

  clear(): void {
    this.pools.clear();
  }
}

/** Runs a GPU session has not finished: dispose() waits for them before freeing what they use. */
export class RunsInFlight {
  private readonly runs = new Set<Promise<unknown>>();

  /** `p`, tracked until it settles. */
  track<T>(p: Promise<T>): Promise<T> {
    const settled = p.catch(() => undefined);
    this.runs.add(settled);
    void settled.then(() => this.runs.delete(settled));
    return p;
  }

  async settled(): Promise<void> {
    await Promise.all(this.runs);
  }
}
