/**
 * Open files that must be regular files. A FIFO, socket or device is refused instead of read: opening a FIFO
 * for reading blocks until a writer comes, and a device may never end. The open itself is non-blocking, so
 * it returns at once whatever the path is.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';

export class NotRegularFileError extends Error {}

export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Open `path` for reading if it is a regular file (symlinks followed); else throw naming what it is. */
export async function openRegular(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const st = await fh.stat().catch(async (e: unknown) => {
    await fh.close();
    throw e;
  });
  if (!st.isFile()) {
    await fh.close();
    throw new NotRegularFileError(`${path}: ${fileKind(st)}, not a regular file: not read`);
  }
  return fh;
}

/** The whole of a regular file, refusing one larger than `maxBytes` before reading it. */
export async function readRegular(path: string, maxBytes = Infinity): Promise<Buffer> {
  const fh = await openRegular(path);
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw new NotRegularFileError(`${path}: ${size} bytes, more than the ${maxBytes}-byte limit for this file`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
