/**
 * Image inputs (`vit classify`, `vit bench --images`), walked lazily: a directory of 100k images starts at once and holds one
 * directory listing at a time. Order is deterministic (names sorted per directory), so output is too.
 */
import { opendir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface Input {
  /** Path to open. */
  path: string;
  /** What the output calls it: relative to the directory it was found in (prefixed by that directory when
   *  several paths are given, so names stay unique), or the argument as given. */
  display: string;
  /** Set when the input cannot even be listed (an unreadable directory): reported as a failed input. */
  error?: string;
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.jfif']);

function isImageName(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

async function* walkDir(root: string, dir: string, recursive: boolean, prefix: boolean): AsyncGenerator<Input> {
  const name = (p: string) => (prefix ? join(root, relative(root, p)) : relative(root, p) || '.');
  const files: string[] = [];
  const dirs: string[] = [];
  try {
    for await (const e of await opendir(dir)) {
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) dirs.push(e.name);
      // Every image name is an input: one that is not a regular file (a FIFO, a device) gets an error record
      // from the worker, which refuses to read it.
      else if (isImageName(e.name)) files.push(e.name);
    }
  } catch (e) {
    yield { path: dir, display: name(dir), error: `${dir}: cannot read directory (${(e as Error).message})` };
    return;
  }
  files.sort();
  dirs.sort();
  for (const f of files) {
    const p = join(dir, f);
    yield { path: p, display: name(p) };
  }
  if (recursive) for (const d of dirs) yield* walkDir(root, join(dir, d), recursive, prefix);
}

/**
 * Files named on the command line are always inputs (whatever their extension); directories give
 * their image files (by extension), recursively unless `recursive` is false. A missing path is an input
 * that fails, so it is reported like any other bad input.
 */
export async function* walkInputs(paths: string[], recursive = true): AsyncGenerator<Input> {
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (st?.isDirectory()) yield* walkDir(p, p, recursive, paths.length > 1);
    else yield { path: p, display: p };
  }
}

/** Count the inputs (names only) for the progress bar's total; runs beside the real walk. */
export async function countInputs(paths: string[], recursive = true): Promise<number> {
  let n = 0;
  for await (const _ of walkInputs(paths, recursive)) n++;
  return n;
}
