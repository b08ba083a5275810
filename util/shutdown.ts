/**
 * Ending the process on a signal with worker pools open. A native backend torn down in the middle of a run or
 * of a session's creation aborts the whole process (onnxruntime-node: "terminate called after throwing an
 * instance of 'Napi::Error'"; Dawn: a pending mapAsync), so what owns workers registers a closer here, and
 * shutdown() runs them all (running work finishes) and refuses new ones from then on.
 */
const closers = new Set<() => Promise<void>>();
let ending = false;

/** Register `close` for shutdown(); returns the unregister call. Throws once shutdown() has begun. */
export function onShutdown(close: () => Promise<void>): () => void {
  if (ending) throw new Error('the process is ending on a signal: no new workers are started');
  closers.add(close);
  return () => void closers.delete(close);
}

/** Run every registered closer, and any registered while they run; nothing registers afterwards. */
export async function shutdown(): Promise<void> {
  ending = true;
  while (closers.size) {
    const now = [...closers];
    closers.clear();
    await Promise.allSettled(now.map((c) => c()));
  }
}
