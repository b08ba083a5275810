import { describe, expect, it } from 'vitest';
import { PlanPool, RunsInFlight } from '../engine/plan-pool.js';

describe('PlanPool', () => {
  it('builds up to perBatch plans per batch size, then hands released ones to waiters in order', async () => {
    const pool = new PlanPool<{ batch: number; id: number }>(2);
    let built = 0;
    const build = (batch: number) => () => ({ batch, id: built++ });
    const a = await pool.acquire(8, build(8));
    const b = await pool.acquire(8, build(8));
    const other = await pool.acquire(1, build(1));
    const waiting = [pool.acquire(8, build(8)), pool.acquire(8, build(8))];
    expect(built).toBe(3);
    pool.release(b);
    pool.release(a);
    expect((await Promise.all(waiting)).map((p) => p.id)).toEqual([b.id, a.id]);
    expect(other.batch).toBe(1);
  });

  it('a failed build frees its place', async () => {
    const pool = new PlanPool<{ batch: number }>(1);
    await expect(pool.acquire(4, () => Promise.reject(new Error('no memory')))).rejects.toThrow('no memory');
    expect(await pool.acquire(4, () => ({ batch: 4 }))).toEqual({ batch: 4 });
  });
});

describe('RunsInFlight', () => {
  it('settled() waits for every tracked run, failed ones included, while callers still see their own result', async () => {
    const runs = new RunsInFlight();
    const order: string[] = [];
    let finish!: () => void;
    const slow = runs.track(new Promise<string>((r) => (finish = () => r('slow'))).then((v) => (order.push(v), v)));
    const failed = runs.track(Promise.reject(new Error('bad batch')));
    await expect(failed).rejects.toThrow('bad batch');
    const done = runs.settled().then(() => order.push('settled'));
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    finish();
    await done;
    expect(await slow).toBe('slow');
    expect(order).toEqual(['slow', 'settled']);
  });
});
