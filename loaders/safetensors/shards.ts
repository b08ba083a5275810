/** Checkpoints: one safetensors file, or Hugging Face shards with an index. */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { SafetensorsIndexJson } from '@huggingface/hub';
import type { Tensor } from '../../model/weights.js';
import { readRegular } from '../../util/regular-file.js';
import { duplicateKey } from '../json-keys.js';
import { isRecord, MAX_HEADER_BYTES, readSafetensorsHeader, SafetensorsError, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, type TensorInfo } from './header.js';
import { readTensorsOf } from './read.js';

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
  const hint = others.length ? ` (found ${others.join(', ')}: pass the file itself)` : convertHint(entries);
  throw new SafetensorsError(pathOrDir, `no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE} in this directory${hint}`);
}

/**
 * For a checkpoint with only PyTorch pickles (pytorch_model.bin, *.pth, *.pt): how to convert it to safetensors
 * (pickles are not read: loading one runs code). Empty when there are none.
 */
export function convertHint(names: Iterable<string>): string {
  const pickles = [...names].filter((n) => /\.(bin|pth|pt)$/.test(n)).sort((a, b) => Number(b === 'pytorch_model.bin') - Number(a === 'pytorch_model.bin'));
  if (!pickles.length) return '';
  const f = pickles[0]!;
  return ` (found ${pickles.join(', ')}: PyTorch pickles are not read; convert to safetensors in that directory with ` +
    `python -c "from safetensors.torch import save_file; import torch; save_file(torch.load('${f}'), 'model.safetensors')")`;
}

async function openIndex(indexPath: string): Promise<CheckpointTensors> {
  const bad = (msg: string) => new SafetensorsError(indexPath, msg);
  const text = (await readRegular(indexPath, MAX_HEADER_BYTES).catch((e: Error) => {
    throw bad(e.message.startsWith(`${indexPath}: `) ? e.message.slice(indexPath.length + 2) : e.message);
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
