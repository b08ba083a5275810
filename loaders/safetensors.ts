/**
 * safetensors: reading (validated, never past the file), sharded checkpoints, and writing.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header, then the data section.
 * Header: { "<name>": { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { str: str } },
 * offsets relative to the first data byte.
 *
 * Every error is a `SafetensorsError` whose message starts with the offending file's path.
 */
import { open, readFile, readdir, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Dtype, SafetensorsIndexJson } from '@huggingface/hub';
import type { Tensor } from '../engine/config.js';
import { openRegular, readRegular } from '../engine/regular-file.js';
import { duplicateKey } from './json-keys.js';
import { sharedFloat32 } from '../engine/config.js';

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
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Fill `target` from `position`, looping over short reads; running into end of file is an error. */
async function readFully(fh: FileHandle, path: string, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(path, `file ends at byte ${position + done}, expected ${target.length - done} more bytes`);
    }
    done += bytesRead;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
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

/** Open a file of a checkpoint for reading: a regular file, else a SafetensorsError naming it. */
async function openFile(path: string): Promise<FileHandle> {
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

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
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

/** Read one tensor through an open handle, converted to float32 on shared memory. */
async function readTensorFrom(fh: FileHandle, header: SafetensorsHeader, name: string): Promise<Tensor> {
  const info = header.tensors.get(name);
  if (!info) throw new SafetensorsError(header.path, `no tensor named "${name}"`);
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError(header.path, 'reading needs a little-endian host');
  const count = info.shape.reduce((a, b) => a * b, 1);
  const position = header.dataStart + info.begin;
  const out = sharedFloat32(count);
  if (info.dtype === 'F32') {
    await readFully(fh, header.path, new Uint8Array(out.buffer), position);
  } else if (info.dtype === 'BF16' || info.dtype === 'F16') {
    // The data may start at an odd file offset; reading into a fresh Uint16Array keeps the view aligned.
    const raw = new Uint16Array(count);
    await readFully(fh, header.path, new Uint8Array(raw.buffer), position);
    const bits = new Uint32Array(out.buffer);
    if (info.dtype === 'BF16') {
      for (let i = 0; i < count; i++) bits[i] = raw[i]! << 16; // bf16 is the top half of an f32
    } else {
      const table = f16Table();
      for (let i = 0; i < count; i++) bits[i] = table[raw[i]!]!;
    }
  } else {
    throw new SafetensorsError(header.path, `unsupported dtype ${info.dtype} for tensor "${name}" (only F32, F16, BF16 convert to float32)`);
  }
  return { shape: info.shape.slice(), data: out };
}

/** Read several tensors of one file through a single open handle. */
async function readTensorsOf(header: SafetensorsHeader, names: Iterable<string>): Promise<Record<string, Tensor>> {
  const fh = await openFile(header.path);
  try {
    const out: Record<string, Tensor> = {};
    for (const name of names) out[name] = await readTensorFrom(fh, header, name);
    return out;
  } finally {
    await fh.close();
  }
}

/** Read one tensor, converted to float32 on shared memory. */
export async function readTensorF32(header: SafetensorsHeader, name: string): Promise<Tensor> {
  return (await readTensorsOf(header, [name]))[name]!;
}

/** Every tensor of one file, as float32 (the file is opened once). */
export async function readSafetensors(path: string): Promise<{ header: SafetensorsHeader; tensors: Record<string, Tensor> }> {
  const fh = await openFile(path);
  try {
    const header = await readHeaderFrom(fh, path);
    const tensors: Record<string, Tensor> = {};
    for (const name of header.tensors.keys()) tensors[name] = await readTensorFrom(fh, header, name);
    return { header, tensors };
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: one file or HF shards with an index.

/** The tensors of a checkpoint, whether one file or several shards. */
export interface CheckpointTensors {
  /** The safetensors files, in index order (one entry for an unsharded checkpoint). */
  files: string[];
  /** The file's __metadata__, or the index's "metadata" (values stringified). */
  metadata: Record<string, string>;
  names(): string[];
  info(name: string): TensorInfo & { path: string };
  read(name: string): Promise<Tensor>;
  /** Every tensor as float32; each file is opened once. */
  readAll(): Promise<Record<string, Tensor>>;
}

/**
 * Open a checkpoint: a directory holding `model.safetensors` or `model.safetensors.index.json`
 * (tried in that order, as transformers does), a `.safetensors` file, or an index `.json` file.
 * All headers are read and cross-checked here; tensor data is read on demand.
 */
export async function openCheckpointFiles(pathOrDir: string): Promise<CheckpointTensors> {
  const st = await stat(pathOrDir).catch((e: Error) => {
    throw new SafetensorsError(pathOrDir, `cannot open checkpoint (${e.message})`);
  });
  if (!st.isDirectory()) {
    if (pathOrDir.endsWith('.json')) return openIndex(pathOrDir);
    const header = await readSafetensorsHeader(pathOrDir);
    return checkpointOf([header], header.metadata, pathOrDir, readTensorsOf);
  }
  const entries = await readdir(pathOrDir);
  if (entries.includes(SAFETENSORS_FILE)) return openCheckpointFiles(join(pathOrDir, SAFETENSORS_FILE));
  if (entries.includes(SAFETENSORS_INDEX_FILE)) return openIndex(join(pathOrDir, SAFETENSORS_INDEX_FILE));
  const others = entries.filter((e) => e.endsWith('.safetensors') || e.endsWith('.safetensors.index.json'));
  const hint = others.length ? ` (found ${others.join(', ')}: pass the file itself)` : '';
  throw new SafetensorsError(pathOrDir, `no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE} in this directory${hint}`);
}

async function openIndex(indexPath: string): Promise<CheckpointTensors> {
  const bad = (msg: string) => new SafetensorsError(indexPath, msg);
  const text = (await readRegular(indexPath, MAX_HEADER_BYTES).catch((e: Error) => {
    throw bad(e.message.slice(indexPath.length + 2));
  })).toString('utf8');
  let index: SafetensorsIndexJson;
  try {
    index = JSON.parse(text) as SafetensorsIndexJson;
  } catch (e) {
    throw bad(`index is not valid JSON (${(e as Error).message})`);
  }
  const dup = duplicateKey(text);
  if (dup !== undefined) throw bad(`index is ambiguous: key ${JSON.stringify(dup)} appears twice`);
  if (!isRecord(index) || !isRecord(index.weight_map)) throw bad('index has no "weight_map" object');
  if (index.metadata !== undefined && !isRecord(index.metadata)) throw bad('index "metadata" is not an object');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(index.metadata ?? {})) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);

  const dir = dirname(indexPath);
  const shardOf = new Map<string, string>(); // tensor -> shard path
  const shards: string[] = [];
  for (const [name, file] of Object.entries(index.weight_map)) {
    if (typeof file !== 'string') throw bad(`weight_map["${name}"] is not a file name`);
    // Shard names come from the file: keep them inside the index's directory.
    if (isAbsolute(file) || normalize(file).split(sep).includes('..')) throw bad(`shard name "${file}" leaves the checkpoint directory`);
    const shard = join(dir, file);
    if (!shards.includes(shard)) shards.push(shard);
    shardOf.set(name, shard);
  }
  if (shards.length === 0) throw bad('weight_map is empty');
  const headers = await Promise.all(
    shards.map(async (shard) => {
      const exists = await stat(shard).then((s) => s.isFile(), () => false);
      if (!exists) throw bad(`shard "${basename(shard)}" named in the index is missing (${shard})`);
      return readSafetensorsHeader(shard);
    }),
  );
  const checkpoint = checkpointOf(headers, metadata, indexPath, readTensorsOf); // rejects a tensor held by two shards
  checkIndexAgrees(indexPath, shardOf, headers);
  return checkpoint;
}

/** Where a checkpoint's tensors live: a file (or URL) and its validated entries. */
export interface HeaderLike {
  path: string;
  tensors: Map<string, TensorInfo>;
}

/**
 * A CheckpointTensors over validated headers (a tensor name must live in exactly one of them); `readMany`
 * reads tensors of one header (local files: one open handle; remote headers: refuses).
 */
export function checkpointOf<H extends HeaderLike>(
  headers: H[],
  metadata: Record<string, string>,
  source: string,
  readMany: (header: H, names: Iterable<string>) => Promise<Record<string, Tensor>>,
): CheckpointTensors {
  const headerOf = new Map<string, H>();
  for (const h of headers) {
    for (const name of h.tensors.keys()) {
      const prev = headerOf.get(name);
      if (prev) throw new SafetensorsError(source, `tensor "${name}" is in two shards: ${prev.path} and ${h.path}`);
      headerOf.set(name, h);
    }
  }
  const lookup = (name: string): H => {
    const h = headerOf.get(name);
    if (!h) throw new SafetensorsError(source, `no tensor named "${name}"`);
    return h;
  };
  return {
    files: headers.map((h) => h.path),
    metadata: { ...metadata },
    names: () => [...headerOf.keys()],
    info: (name) => {
      const h = lookup(name);
      return { ...h.tensors.get(name)!, shape: h.tensors.get(name)!.shape.slice(), path: h.path };
    },
    read: async (name) => (await readMany(lookup(name), [name]))[name]!,
    readAll: async () => {
      const parts = await Promise.all(headers.map((h) => readMany(h, h.tensors.keys())));
      return Object.assign({}, ...parts) as Record<string, Tensor>;
    },
  };
}

/** Every tensor the index lists is in its shard, and every shard's tensors are listed. */
export function checkIndexAgrees(indexPath: string, shardOf: Map<string, string>, headers: HeaderLike[]): void {
  const bad = (msg: string) => new SafetensorsError(indexPath, msg);
  const byPath = new Map(headers.map((h) => [h.path, h]));
  for (const [name, shard] of shardOf) {
    if (!byPath.get(shard)?.tensors.has(name)) throw bad(`tensor "${name}" is listed for shard "${basename(shard)}" but absent from it`);
  }
  for (const h of headers) {
    for (const name of h.tensors.keys()) {
      if (!shardOf.has(name)) throw bad(`shard "${basename(h.path)}" holds tensor "${name}" that the index does not list`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions.

/** IEEE binary16 bits -> the number they encode (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * binary16 bits -> binary32 bits, exact, NaN payloads kept. A binary16 subnormal m * 2^-24 is
 * normal in binary32: shift m left until its leading 1 reaches bit 10 (the implicit bit), lowering
 * the exponent once per shift.
 */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0; // rebias 15 -> 127
  if (m === 0) return sign >>> 0;
  let e32 = 113; // 2^-14 (the subnormal scale 2^-24 times the implicit 2^10) in binary32 bias
  while (!(m & 0x400)) {
    m <<= 1;
    e32--;
  }
  return (sign | (e32 << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

let F16_TABLE: Uint32Array | undefined;
/** All 65536 binary16 -> binary32 bit patterns (256 KB, built on first use). */
function f16Table(): Uint32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16BitsToF32Bits(h);
  }
  return F16_TABLE;
}

/** float32 bits -> bfloat16 bits, round to nearest, ties to even; NaN stays NaN. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff (+1 when the kept lowest bit is odd) carries into bit 16 exactly when rounding up.
  // (Non-NaN bits are at most 0xff800000, so the sum stays below 2^32.)
  return ((bits >>> 0) + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** float32 value -> binary16 bits, round to nearest, ties to even; overflow gives infinity. */
export function f32ToF16Bits(v: number): number {
  const x = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result: shift the full 24-bit significand down to units of 2^-24.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent (even to infinity) is correct
  return sign | h;
}

// ---------------------------------------------------------------------------------------------
// Writing.

export type WritableDType = 'F32' | 'F16' | 'BF16';

/** Encode tensors as a safetensors file (F32 data converted to the requested storage dtype). */
export function encodeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array; dtype?: WritableDType }>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`encodeSafetensors: tensor "${name}" has shape [${t.shape}] but ${t.data.length} values`);
    const dtype = t.dtype ?? 'F32';
    const bytes = encodeData(t.data, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    parts.push(bytes);
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // keep the data section 8-byte aligned, as the Rust writer does
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...parts]);
}

function encodeData(data: Float32Array, dtype: WritableDType): Uint8Array {
  if (!LITTLE_ENDIAN_HOST) throw new Error('encodeSafetensors needs a little-endian host');
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(Float32Array.from(data).buffer);
    for (let i = 0; i < data.length; i++) out[i] = f32BitsToBf16(bits[i]!);
  } else {
    for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]!);
  }
  return new Uint8Array(out.buffer);
}
