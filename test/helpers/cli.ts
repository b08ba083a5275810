/** Running the built `vit` command (or any command) as a user does, for the tests that go through the CLI. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './paths.js';

export const CLI = join(REPO, 'dist/cli/vit.js');

export interface Run {
  code: number | null;
  /** The signal that ended the child, when one did (then code is null). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** SIGKILL after this long (default 60 s). */
  timeoutMs?: number;
  /** Called on each chunk with all output so far; `kill` signals the running child. */
  onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void;
  onStderr?: (all: string, kill: (s: NodeJS.Signals) => void) => void;
}

/** Run `cmd args`; resolves when the child has closed its pipes. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const kill = (s: NodeJS.Signals) => child.kill(s);
    child.stdout.on('data', (d) => {
      stdout += d;
      opts.onStdout?.(stdout, kill);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(stderr, kill);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Run the built CLI: `vit ...args`. */
export const vit = (args: string[], opts: RunOptions = {}): Promise<Run> => run('node', [CLI, ...args], opts);

/** The run's exit code, or "signal SIGSEGV" and its stderr when a signal ended it (so a failed expect says why). */
export const exitOf = (r: Run): number | string => r.code ?? `signal ${r.signal}; stderr:\n${r.stderr}`;
