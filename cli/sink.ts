/**
 * Where `vit classify` writes its records, opened only once set-up has succeeded, so a failed start never
 * touches an existing file:
 *
 * - stdout, or an existing non-regular file (/dev/full, a FIFO): written directly.
 * - a new file: written in place (a run killed hard leaves what it wrote, which --resume continues).
 * - an existing regular file without --resume: the records go to a temporary file beside it, renamed over it
 *   when the run ends (also when interrupted); on failure the temporary file is removed and the old file is
 *   left as it was.
 * - --resume: the existing file is kept; a torn last record is cut off and new records are appended.
 *
 * Every write error fails the run, saying how many records were written.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, stat, truncate, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { recordedInputs, type Recorded } from './resume.js';
import type { OutputFormat } from './output.js';

export class OutputError extends Error {}

export class OutputSink {
  /** Records whose bytes the system accepted. */
  written = 0;
  private submitted = 0;
  private error?: Error;

  private constructor(
    private readonly out: WriteStream | NodeJS.WriteStream,
    private readonly name: string,
    /** Temporary file to rename over `target` at the end. */
    private readonly temp?: string,
    private readonly target?: string,
  ) {
    out.on('error', (e: Error) => (this.error ??= e));
  }

  /** `recorded`: with --resume, what the file already holds (undefined when it does not exist yet). */
  static async open(
    output: string | undefined,
    opts: { resume?: boolean; format: OutputFormat; rowsPerRecord: number },
  ): Promise<{ sink: OutputSink; recorded?: Recorded }> {
    if (output === undefined) {
      if (opts.resume) throw new OutputError('--resume needs --output <file>: the records to skip are read from it');
      return { sink: new OutputSink(process.stdout, 'stdout') };
    }
    const fail = (e: Error): never => {
      throw new OutputError(`--output ${output}: ${e.message}`);
    };
    const st = await stat(output).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : fail(e)));
    if (st && !st.isFile()) {
      if (opts.resume) throw new OutputError(`--resume: ${output} is not a regular file, so it cannot be read back`);
      if (st.isDirectory()) fail(new Error('is a directory'));
      return { sink: OutputSink.stream(await open(output, 'w').catch(fail), output) };
    }
    if (opts.resume && st) {
      const fh = await open(output, 'r+').catch(fail);
      let recorded: Recorded;
      try {
        recorded = recordedInputs(output, await fh.readFile(), opts.format, opts.rowsPerRecord);
      } finally {
        await fh.close();
      }
      if (recorded.dropped) await truncate(output, recorded.keepBytes).catch(fail);
      return { sink: OutputSink.stream(await open(output, 'a').catch(fail), output), recorded };
    }
    if (!st) return { sink: OutputSink.stream(await open(output, 'wx').catch(fail), output) };
    const temp = join(dirname(output), `.${basename(output)}.vit-${process.pid}.partial`);
    return { sink: OutputSink.stream(await open(temp, 'wx').catch(fail), output, temp) };
  }

  private static stream(fh: import('node:fs/promises').FileHandle, name: string, temp?: string): OutputSink {
    return new OutputSink(createWriteStream('', { fd: fh }), name, temp, temp ? name : undefined);
  }

  private failure(): OutputError {
    const e = this.error!;
    const where = this.temp ? `; ${this.target} is left as it was` : '';
    return new OutputError(`${this.name}: write failed (${e.message}) after ${this.written} record(s) were written${where}`);
  }

  /** Write one record (a newline is added); throws once any write has failed. */
  async write(record: string): Promise<void> {
    if (this.error) throw this.failure();
    this.submitted++;
    const ok = this.out.write(`${record}\n`, (e) => {
      if (!e) this.written++;
    });
    if (!ok) await new Promise<void>((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('error', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('error', done);
    });
    if (this.error) throw this.failure();
  }

  /**
   * Flush and close. `keep`: the run ended (completed or interrupted), so a temporary file replaces the
   * target; otherwise it is removed. Throws when any write failed.
   */
  async close(keep: boolean): Promise<void> {
    if (this.out === process.stdout) {
      if (!this.error) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    } else {
      const out = this.out as WriteStream;
      if (!out.closed) {
        await new Promise<void>((resolve) => {
          out.once('close', resolve);
          out.end();
        });
      }
    }
    const failed = this.error !== undefined;
    if (this.temp) {
      if (keep && !failed) await rename(this.temp, this.target!).catch((e: Error) => (this.error ??= e));
      else await unlink(this.temp).catch(() => undefined);
    }
    if (this.error) throw this.failure();
  }
}

/**
 * Write whole files (a matrix and its sidecars) by the same rules: each goes to a temporary file beside its
 * target and all are renamed over their targets once every one is written; an existing non-regular file
 * (/dev/full, a FIFO) is written directly. On any error the temporary files are removed, existing targets are
 * left as they were, and an OutputError names the file.
 */
export async function writeFilesSafely(files: { path: string; data: Uint8Array[] }[]): Promise<void> {
  const staged: { temp?: string; path: string }[] = [];
  try {
    for (const f of files) {
      const st = await stat(f.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw new OutputError(`--output ${f.path}: ${e.message}`);
      });
      if (st?.isDirectory()) throw new OutputError(`--output ${f.path}: is a directory`);
      const direct = st !== undefined && !st.isFile();
      const temp = direct ? undefined : join(dirname(f.path), `.${basename(f.path)}.vit-${process.pid}.partial`);
      const fh = await open(temp ?? f.path, direct ? 'w' : 'wx').catch((e: Error) => {
        throw new OutputError(`--output ${f.path}: ${e.message}`);
      });
      staged.push({ temp, path: f.path });
      try {
        for (const d of f.data) await fh.write(d);
      } catch (e) {
        throw new OutputError(`${f.path}: write failed (${(e as Error).message}); nothing was replaced`);
      } finally {
        await fh.close();
      }
    }
    for (const s of staged) if (s.temp) await rename(s.temp, s.path);
  } catch (e) {
    await Promise.all(staged.map((s) => (s.temp ? unlink(s.temp).catch(() => undefined) : undefined)));
    throw e instanceof OutputError ? e : new OutputError(`--output: ${(e as Error).message}`);
  }
}
