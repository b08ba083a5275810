/**
 * What classify and embed share: inputs grouped into batches, up to `maxInFlight` batches running at once, and
 * each input's result handed to `emit` in input order. An input that failed before reaching a worker (an
 * unreadable directory: `error` set) goes in a batch of its own and keeps its place.
 */
import type { Input } from '../util/inputs.js';

export interface InOrderOptions<R> {
  batchSize: number;
  maxInFlight: number;
  /** One result per path, in order. */
  run(paths: string[]): Promise<R[]>;
  /** The result of an input that failed before reaching a worker. */
  failed(error: string): R;
  /** Called in input order. */
  emit(input: Input, result: R): Promise<void>;
  /** Wraps each round of emits (the progress bar clears and redraws around them). */
  around?(write: () => Promise<void>): Promise<void>;
  /** Inputs whose results are in so far, after each batch. */
  progress?(finished: number): void;
  /** True once the run is to stop submitting (a signal); what is running still finishes and is emitted. */
  stopped(): boolean;
  /** Inputs not to run (already in the output: --resume). */
  skip?(input: Input): boolean;
}

/** Runs every input of `inputs`; resolves with how many were submitted once all are emitted. */
export async function runInOrder<R>(inputs: AsyncIterable<Input>, o: InOrderOptions<R>): Promise<number> {
  const pending = new Map<number, Promise<{ seq: number; inputs: Input[]; results: R[] }>>();
  const done = new Map<number, { inputs: Input[]; results: R[] }>();
  let nextToEmit = 0;
  let seq = 0;
  let total = 0;
  let finished = 0;

  const emitReady = async () => {
    for (let b = done.get(nextToEmit); b; b = done.get(nextToEmit)) {
      done.delete(nextToEmit++);
      for (let i = 0; i < b.inputs.length; i++) await o.emit(b.inputs[i]!, b.results[i]!);
    }
  };
  const settleOne = async () => {
    const r = await Promise.race(pending.values());
    pending.delete(r.seq);
    done.set(r.seq, r);
    finished += r.inputs.length;
    o.progress?.(finished);
    await (o.around ? o.around(emitReady) : emitReady());
  };
  const submit = (batch: Input[]) => {
    const s = seq++;
    total += batch.length;
    const work = batch.every((i) => i.error !== undefined) ? Promise.resolve(batch.map((i) => o.failed(i.error!))) : o.run(batch.map((i) => i.path));
    pending.set(s, work.then((results) => ({ seq: s, inputs: batch, results })));
  };

  let batch: Input[] = [];
  for await (const input of inputs) {
    if (o.stopped()) break;
    if (o.skip?.(input)) continue;
    if (input.error !== undefined) {
      if (batch.length) submit(batch);
      submit([input]);
      batch = [];
    } else {
      batch.push(input);
      if (batch.length === o.batchSize) {
        submit(batch);
        batch = [];
      }
    }
    while (pending.size >= o.maxInFlight) await settleOne();
  }
  if (batch.length && !o.stopped()) submit(batch);
  while (pending.size) await settleOne();
  return total;
}
