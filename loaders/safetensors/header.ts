/**
 * safetensors headers: reading and validating (never past the file).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header, then the data section.
 * Header: { "<name>": { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { str: str } },
 * offsets relative to the first data byte.
 *
 * Every error is a `SafetensorsError` whose message starts with the offending file's path.
 */
import type { FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { Dtype } from '@huggingface/hub';
import { openRegular } from '../../util/regular-file.js';
import { duplicateKey } from '../json-keys.js';

/** Dtype names as the safetensors format (and @huggingface/hub) spell them. */
export type SafetensorsDtype = Dtype;

/** Bits per element of every dtype the format defines (sub-byte ones pack several elements a byte). */
export const DTYPE_BITS: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 64, F32: 32, F16: 16, BF16: 16, C64: 64,
  F8_E4M3: 8, F8_E4M3FNUZ: 8, F8_E5M2: 8, F8_E5M2FNUZ: 8, F8_E8M0: 8, E8M0: 8,
  F6_E3M2: 6, F6_E2M3: 6, F4: 4, FP4: 4,
  I64: 64, U64: 64, I32: 32, U32: 32, I16: 16, U16: 16, I8: 8, U8: 8, UE8: 8, BOOL: 8,
};

/** Header lengths above this are refused before anything is allocated (the reference Rust reader uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
  metadata: Record<string, string>;
  /** In header order. */
  tensors: Map<string, TensorInfo>;
}

export class SafetensorsError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

// Data is little-endian on disk; F32 bytes go straight into a Float32Array, so the host must be too.
export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Fill `target` from `position`, looping over short reads; running into end of file is an error. */
export async function readFully(fh: FileHandle, path: string, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(path, `file ends at byte ${position + done}, expected ${target.length - done} more bytes`);
    }
    done += bytesRead;
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Parse and validate one header entry; `dataSize` is the byte length of the data section. */
function parseEntry(path: string, name: string, v: unknown, dataSize: number): TensorInfo {
  const bad = (msg: string) => new SafetensorsError(path, `tensor "${name}": ${msg}`);
  if (!isRecord(v)) throw bad('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== 'string') throw bad('missing or non-string "dtype"');
  if (!Object.hasOwn(DTYPE_BITS, dtype)) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape)) throw bad('missing or non-array "shape"');
  if (!shape.every(isIndex)) throw bad(`shape ${JSON.stringify(shape)} must hold non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw bad(`"data_offsets" ${JSON.stringify(offsets)} must be two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] begin after end`);
  if (end > dataSize) throw bad(`data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes): file truncated or header wrong`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const bits = count * DTYPE_BITS[dtype as SafetensorsDtype];
  if (!Number.isSafeInteger(bits)) throw bad(`shape ${JSON.stringify(shape)} is too large`);
  if (bits !== 8 * (end - begin)) {
    throw bad(`shape ${JSON.stringify(shape)} x ${dtype} is ${bits / 8} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Open a file of a checkpoint for reading: a regular file (never a FIFO or device), else a SafetensorsError naming it. */
export async function openFile(path: string): Promise<FileHandle> {
  return openRegular(path).catch((e: Error) => {
    throw new SafetensorsError(path, e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message);
  });
}

/** Read and validate the header of a safetensors file (reads only the first 8 + N bytes). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await openFile(path);
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

export async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const fileSize = (await fh.stat()).size;
  if (fileSize < 8) throw new SafetensorsError(path, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const lenBytes = new Uint8Array(8);
  await readFully(fh, path, lenBytes, 0);
  const n64 = Buffer.from(lenBytes.buffer).readBigUInt64LE(0);
  // Both checks come before any allocation, so a lying length cannot exhaust memory.
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(path, `header length ${n64} exceeds the ${MAX_HEADER_BYTES / 1e6} MB limit`);
  }
  const n = Number(n64);
  if (8 + n > fileSize) throw new SafetensorsError(path, `header length ${n} runs past the end of the ${fileSize}-byte file`);
  const jsonBytes = new Uint8Array(n);
  await readFully(fh, path, jsonBytes, 8);
  let raw: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes);
    raw = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(path, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  // JSON.parse keeps the last of a repeated key: a header naming a tensor twice is ambiguous, so refused.
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new SafetensorsError(path, `header is ambiguous: key ${JSON.stringify(dup)} appears twice`);
  if (!isRecord(raw)) throw new SafetensorsError(path, 'header is not a JSON object');

  const dataStart = 8 + n;
  const { metadata, tensors } = parseHeaderObject(path, raw, fileSize - dataStart);
  return { path, fileSize, dataStart, metadata, tensors };
}

/**
 * Validate a parsed header object: `__metadata__` a string map, every entry's dtype, shape and byte range
 * (within `dataSize` bytes of data; Infinity where the caller cannot know it), no overlapping tensors.
 * Used for local files and for headers read remotely (loaders/remote.ts), so both fail with the same messages.
 */
export function parseHeaderObject(
  path: string,
  raw: Record<string, unknown>,
  dataSize: number,
): { metadata: Record<string, string>; tensors: Map<string, TensorInfo> } {
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, v] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isRecord(v)) throw new SafetensorsError(path, '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== 'string') throw new SafetensorsError(path, `__metadata__["${k}"] is not a string`);
        metadata[k] = s;
      }
    } else {
      tensors.set(name, parseEntry(path, name, v, dataSize));
    }
  }
  // Gaps are tolerated (padding), overlaps are not: sort by begin and compare neighbours.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.begin < a.end) {
      throw new SafetensorsError(path, `tensors "${a.name}" [${a.begin}, ${a.end}] and "${b.name}" [${b.begin}, ${b.end}] overlap`);
    }
  }
  return { metadata, tensors };
}

