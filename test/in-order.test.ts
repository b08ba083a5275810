/** cli/in-order.ts: the batch runner classify and embed share. */
import { describe, expect, it } from 'vitest';
import { runInOrder } from '../cli/in-order.js';
import type { Input } from '../util/inputs.js';

async function* inputs(names: string[]): AsyncGenerator<Input> {
  for (const n of names) yield n.startsWith('!') ? { path: n, display: n, error: `cannot read ${n}` } : { path: n, display: n };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runInOrder', () => {
  it('emits in input order while later batches finish first, and never runs more than maxInFlight', async () => {
    const names = Array.from({ length: 23 }, (_, i) => `f${i}`);
    const emitted: string[] = [];
    const batches: string[][] = [];
    let running = 0;
    let most = 0;
    const total = await runInOrder<string>(inputs(names), {
      batchSize: 4,
      maxInFlight: 3,
      run: async (paths) => {
        batches.push(paths);
        most = Math.max(most, ++running);
        await delay(30 - 5 * (batches.length % 4)); // later batches are often quicker
        running--;
        return paths.map((p) => `r:${p}`);
      },
      failed: (e) => `error:${e}`,
      emit: async (input, r) => void emitted.push(`${input.display}=${r}`),
      stopped: () => false,
    });
    expect(total).toBe(23);
    expect(emitted).toEqual(names.map((n) => `${n}=r:${n}`));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 4, 4, 4, 3]);
    expect(most).toBeLessThanOrEqual(3);
  });

  it('an input that failed early goes alone and keeps its place; skipped inputs are not run', async () => {
    const emitted: string[] = [];
    const batches: string[][] = [];
    const total = await runInOrder<string>(inputs(['a', 'b', '!c', 'd', 'skip-e', 'f', 'g']), {
      batchSize: 3,
      maxInFlight: 2,
      run: async (paths) => (batches.push(paths), paths.map((p) => p.toUpperCase())),
      failed: (e) => `error:${e}`,
      emit: async (input, r) => void emitted.push(`${input.display}=${r}`),
      stopped: () => false,
      skip: (i) => i.display.startsWith('skip'),
    });
    expect(batches).toEqual([['a', 'b'], ['d', 'f', 'g']]);
    expect(emitted).toEqual(['a=A', 'b=B', '!c=error:cannot read !c', 'd=D', 'f=F', 'g=G']);
    expect(total).toBe(6);
  });

  it('once stopped, submits nothing more but emits what was running', async () => {
    let stop = false;
    const emitted: string[] = [];
    const total = await runInOrder<string>(inputs(Array.from({ length: 20 }, (_, i) => `f${i}`)), {
      batchSize: 2,
      maxInFlight: 2,
      run: async (paths) => {
        await delay(5);
        stop = true; // a signal arrives while the first batches run
        return paths;
      },
      failed: (e) => e,
      emit: async (input) => void emitted.push(input.display),
      stopped: () => stop,
    });
    expect(total).toBeLessThan(20);
    expect(emitted).toEqual(Array.from({ length: total }, (_, i) => `f${i}`));
  });

  it('the progress callback counts inputs whose results are in, and `around` wraps each round of emits', async () => {
    const seen: number[] = [];
    let rounds = 0;
    await runInOrder<number>(inputs(['a', 'b', 'c', 'd', 'e']), {
      batchSize: 2,
      maxInFlight: 1,
      run: async (paths) => paths.map((p) => p.length),
      failed: () => -1,
      emit: async () => undefined,
      around: async (write) => {
        rounds++;
        await write();
      },
      progress: (n) => seen.push(n),
      stopped: () => false,
    });
    expect(seen).toEqual([2, 4, 5]);
    expect(rounds).toBe(3);
  });

  it('a failing run rejects the whole call (callers bisect failures themselves)', async () => {
    await expect(
      runInOrder<string>(inputs(['a', 'b']), {
        batchSize: 2,
        maxInFlight: 2,
        run: async () => {
          throw new Error('worker died');
        },
        failed: (e) => e,
        emit: async () => undefined,
        stopped: () => false,
      }),
    ).rejects.toThrow('worker died');
  });
});
