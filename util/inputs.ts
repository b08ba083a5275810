/**
 * Image inputs (`vit classify`, `vit bench --images`), walked lazily: a directory of 100k images starts at once and holds one
 * directory listing at a time. Order is deterministic (names sorted per directory), so output is too.
 */
import type { Stats } from 'node:fs';
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

export interface WalkOptions {
  /** A symlinked directory that leads back into one of its own ancestors: not followed, said here once per directory it leads to. */
  onLoop?: (message: string) => void;
}

/** A directory's identity, whatever path reaches it. */
const dirId = (st: Stats) => `${st.dev}:${st.ino}`;

/**
 * Symlinks are followed: to a directory it is walked like one (unless it leads back into a directory being
 * walked, a loop), to anything else it is a file like any other.
 */
interface WalkState {
  /** The directories being walked (identity -> path), from the root down. */
  ancestors: Map<string, string>;
  /** Loop targets already reported. */
  reported: Set<string>;
}

async function* walkDir(root: string, dir: string, recursive: boolean, prefix: boolean, state: WalkState, o: WalkOptions): AsyncGenerator<Input> {
  const name = (p: string) => (prefix ? join(root, relative(root, p)) : relative(root, p) || '.');
  const files: string[] = [];
  const dirs: string[] = [];
  try {
    for await (const e of await opendir(dir)) {
      if (e.name.startsWith('.')) continue;
      const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => undefined))?.isDirectory());
      if (isDir) dirs.push(e.name);
      // Every image name is an input: one that is not a regular file (a FIFO, a device, a dangling link) gets
      // an error record from the worker, which refuses to read it.
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
  if (!recursive) return;
  for (const d of dirs) {
    const p = join(dir, d);
    const st = await stat(p).catch(() => undefined);
    if (!st) continue;
    const id = dirId(st);
    const loop = state.ancestors.get(id);
    if (loop !== undefined) {
      if (!state.reported.has(id)) o.onLoop?.(`${p}: symlink loop (leads back to ${loop}), not followed`);
      state.reported.add(id);
      continue;
    }
    state.ancestors.set(id, p);
    yield* walkDir(root, p, recursive, prefix, state, o);
    state.ancestors.delete(id);
  }
}

/**
 * Files named on the command line are always inputs (whatever their extension); directories give
 * their image files (by extension), recursively unless `recursive` is false. A missing path is an input
 * that fails, so it is reported like any other bad input.
 */
export async function* walkInputs(paths: string[], recursive = true, o: WalkOptions = {}): AsyncGenerator<Input> {
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (st?.isDirectory()) yield* walkDir(p, p, recursive, paths.length > 1, { ancestors: new Map([[dirId(st), p]]), reported: new Set() }, o);
    else yield { path: p, display: p };
  }
}

/** The paths that do not exist (checked before a model is loaded); a dangling symlink counts as missing. */
export async function missingPaths(paths: string[]): Promise<string[]> {
  const found = await Promise.all(paths.map((p) => stat(p).then(() => true, (e: NodeJS.ErrnoException) => e.code !== 'ENOENT' && e.code !== 'ENOTDIR')));
  return paths.filter((_, i) => !found[i]);
}

/** Count the inputs (names only) for the progress bar's total; runs beside the real walk. */
export async function countInputs(paths: string[], recursive = true): Promise<number> {
  let n = 0;
  for await (const _ of walkInputs(paths, recursive)) n++;
  return n;
}
