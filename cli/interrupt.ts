/**
 * Ctrl-C and SIGTERM during classify / embed: the first signal lets the batches in flight finish and what was done be
 * written (the run polls `signal`); a second ends the process at once with 130 / 143.
 */
export type Interrupt = 'SIGINT' | 'SIGTERM';

export interface Interrupts {
  /** The first signal received, once one has been. */
  readonly signal: Interrupt | undefined;
  /** Stop listening (the run is over). */
  release(): void;
}

/** Listen from now on; `onFirst` runs at the first signal (stop a progress bar before the message). */
export function catchInterrupts(onFirst: () => void): Interrupts {
  let signal: Interrupt | undefined;
  const on = (sig: Interrupt) => {
    if (signal) process.exit(sig === 'SIGINT' ? 130 : 143);
    signal = sig;
    onFirst();
    process.stderr.write(`vit: interrupted (${sig}): finishing the batches in flight, then writing what was done (Ctrl-C again to quit now)\n`);
  };
  const onInt = () => on('SIGINT');
  const onTerm = () => on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    get signal() {
      return signal;
    },
    release() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
