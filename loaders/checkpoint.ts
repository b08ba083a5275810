/**
 * Load a ViT checkpoint directory (or safetensors file) into the model structure (model/weights.ts) + config.
 *
 * Format detection is by tensor names (loaders/formats/hf.ts, timm.ts); the
 * format modules in ./formats give the config and the key map, this file checks shapes and assembles.
 */
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { PosEmbedResample } from '../model/config.js';
import { numPrefixTokens, patchGrid } from '../model/shapes.js';
import { buildWeights, sharedFloat32, weightSlots, weightTensors, type Tensor, type ViTModel, type ViTWeights } from '../model/weights.js';
import { NotRegularFileError, readRegular } from '../util/regular-file.js';
import { ConfigError } from './check-config.js';
import { HF_KEYS, hfSpec, isHfCheckpoint } from './formats/hf.js';
import { CheckpointMismatchError, UnsupportedCheckpointError, type FormatSpec } from './formats/spec.js';
import { isTimmCheckpoint, TIMM_KEYS, timmSpec } from './formats/timm.js';
import { resamplePosEmbed } from './pos-embed.js';
import { openCheckpointFiles, type CheckpointTensors } from './safetensors/shards.js';

export { CheckpointMismatchError, UnsupportedCheckpointError } from './formats/spec.js';

export interface LoadOptions {
  /** Run at this [height, width] (multiples of the patch size): the position embedding is resampled once, here. */
  imageSize?: [number, number];
  /** Resampling convention; defaults to the checkpoint format's own. */
  posEmbedResample?: PosEmbedResample;
}

/** config.json and preprocessor_config.json are small: larger files are refused before they are read. */
export const MAX_CONFIG_BYTES = 1 << 20;

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = (await readRegular(path, MAX_CONFIG_BYTES)).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e instanceof NotRegularFileError ? e : new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/** The directory holding config.json for a checkpoint path (a directory, a .safetensors or an index file). */
async function modelDir(path: string): Promise<string> {
  const st = await stat(path).catch(() => {
    throw new Error(`${path}: no such file or directory`);
  });
  return st.isDirectory() ? path : dirname(path);
}

/** A checkpoint path, or tensors already opened (e.g. remote headers, loaders/remote.ts) with config.json in `dir`. */
export type CheckpointSource = string | { dir: string; files: CheckpointTensors };

/** Read config + key map for a checkpoint, without reading tensor data. */
export async function describeCheckpoint(source: CheckpointSource): Promise<{ dir: string; files: CheckpointTensors; spec: FormatSpec }> {
  const { dir, files } = typeof source === 'string' ? { dir: await modelDir(source), files: await openCheckpointFiles(source) } : source;
  const names = files.names();
  const cfg = await readJson(join(dir, 'config.json'));
  const where = files.files.length === 1 ? files.files[0]! : dir;
  if (!isHfCheckpoint(names) && !isTimmCheckpoint(names)) {
    const sample = names.slice(0, 4).join(', ');
    throw new UnsupportedCheckpointError(
      where,
      `not a ViT checkpoint this engine knows (expected HF keys ${HF_KEYS} or timm keys ${TIMM_KEYS}; found ${sample}${names.length > 4 ? ', ...' : ''})`,
    );
  }
  let spec: FormatSpec;
  try {
    spec = isHfCheckpoint(names) ? hfSpec(names, cfg, await readJson(join(dir, 'preprocessor_config.json')), where) : timmSpec(names, cfg, where);
  } catch (e) {
    // A bad config value is one set-up error naming the config file it came from.
    if (e instanceof ConfigError) throw new Error(`${join(dir, e.file)}: ${e.message} (checkpoint ${where})`);
    throw e;
  }
  checkKeys(spec, names, where);
  checkShapes(spec, files, where);
  return { dir, files, spec };
}

/** Every tensor the key map needs is there, and nothing is left over. */
function checkKeys(spec: FormatSpec, names: string[], where: string): void {
  const have = new Set(names);
  const used = new Set(spec.ignored);
  const missing: string[] = [];
  for (const srcs of spec.sources.values()) {
    for (const s of srcs) {
      if (have.has(s)) used.add(s);
      else missing.push(s);
    }
  }
  if (missing.length) {
    throw new CheckpointMismatchError(where, `missing ${missing.length} tensor(s) for ${spec.config.architecture}: ${list(missing)}`);
  }
  const unexpected = names.filter((n) => !used.has(n));
  if (unexpected.length) {
    throw new CheckpointMismatchError(
      where,
      `unexpected ${unexpected.length} tensor(s) for ${spec.config.architecture} (a variant this engine does not run, or a config that does not match the weights): ${list(unexpected)}`,
    );
  }
}

function list(names: string[]): string {
  return names.slice(0, 8).join(', ') + (names.length > 8 ? `, ... (${names.length - 8} more)` : '');
}

/** Shape of a slot's tensor assembled from its sources (stacked along dim 0). */
function assembledShape(shapes: number[][]): number[] {
  if (shapes.length === 1) return shapes[0]!;
  return [shapes.reduce((a, s) => a + (s[0] ?? 0), 0), ...shapes[0]!.slice(1)];
}

function slotShapes(spec: FormatSpec): Map<string, number[]> {
  return new Map(weightSlots(spec.config).map((s) => [s.path, s.shape]));
}

function checkShapes(spec: FormatSpec, files: CheckpointTensors, where: string): void {
  const expected = slotShapes(spec);
  for (const [name, srcs] of spec.sources) {
    const got = assembledShape(srcs.map((s) => files.info(s).shape));
    // HF stores the class token / position embedding as [1, n, D]; some exports drop the leading 1.
    const want = expected.get(name)!;
    const flat = (s: number[]) => s.filter((d, i) => !(d === 1 && i === 0 && s.length === 3)).join('x');
    if (got.join('x') !== want.join('x') && flat(got) !== flat(want)) {
      const what = name === 'pos' ? ` (position embedding for a ${patchGrid(spec.config, spec.config.imageSize).join('x')} patch grid)` : '';
      throw new CheckpointMismatchError(
        where,
        `tensor ${srcs.join(' + ')} has shape [${got.join(', ')}], expected [${want.join(', ')}]${what} for ${spec.config.architecture} as configured`,
      );
    }
  }
}

/** Concatenate along dim 0 into one shared array. */
function stack(parts: Tensor[], shape: number[]): Tensor {
  if (parts.length === 1) return { shape, data: parts[0]!.data };
  const out = sharedFloat32(parts.reduce((a, p) => a + p.data.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p.data, o);
    o += p.data.length;
  }
  return { shape, data: out };
}

/**
 * A NaN or infinite weight gives NaN logits for every image: refused at load, naming the checkpoint tensor
 * (the slot's source holding the value, for stacked slots such as q, k, v) and its file.
 */
function checkFinite(weights: ViTWeights, spec: FormatSpec, files: CheckpointTensors): void {
  for (const [path, t] of weightTensors(weights)) {
    let at = t.data.findIndex((v) => !Number.isFinite(v));
    if (at < 0) continue;
    const value = t.data[at];
    // A slot with no source (the zero qkv bias of a checkpoint without one) is all zeros.
    for (const src of spec.sources.get(path) ?? []) {
      const n = files.info(src).shape.reduce((a, b) => a * b, 1);
      if (at < n) throw new CheckpointMismatchError(files.info(src).path, `tensor "${src}" holds a non-finite value (${value} at element ${at})`);
      at -= n;
    }
  }
}

/** Load a checkpoint directory or safetensors file into a model ready for any backend. */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<ViTModel> {
  const { files, spec } = await describeCheckpoint(path);
  const expected = slotShapes(spec);
  const tensors = new Map<string, Tensor>();
  // Only the tensors the key map uses are read: ignored ones (a pooler, an I64 buffer) cost nothing.
  for (const [path, srcs] of spec.sources) tensors.set(path, stack(await Promise.all(srcs.map((s) => files.read(s))), expected.get(path)!));
  // A checkpoint made without qkv bias runs with a zero bias, so every backend has one code path.
  const D = spec.config.hiddenSize;
  const weights = buildWeights(spec.config, (p) => tensors.get(p) ?? (p.endsWith('.qkv.bias') ? { shape: [3 * D], data: sharedFloat32(3 * D) } : undefined));
  checkFinite(weights, spec, files);
  let model: ViTModel = { config: spec.config, weights, source: path };
  if (opts.imageSize) model = withImageSize(model, opts.imageSize, opts.posEmbedResample);
  return model;
}

/**
 * The same model at another input resolution: position embedding resampled (on the CPU, once) with the
 * checkpoint's convention unless `method` says otherwise. Other weights are shared, not copied.
 */
export function withImageSize(model: ViTModel, size: [number, number], method?: PosEmbedResample): ViTModel {
  const c = model.config;
  const [h, w] = size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0 || h % c.patchSize || w % c.patchSize) {
    throw new Error(`image size ${h}x${w} is not a positive multiple of the patch size ${c.patchSize} (${model.source})`);
  }
  if (h === c.imageSize[0] && w === c.imageSize[1]) return model;
  const oldGrid = patchGrid(c, c.imageSize);
  const newGrid = patchGrid(c, [h, w]);
  const pe = model.weights.pos;
  const prefix = numPrefixTokens(c);
  const data = resamplePosEmbed(pe.data, c.hiddenSize, oldGrid, newGrid, method ?? c.posEmbedResample, prefix);
  const preprocess = { ...c.preprocess, size: [h, w] as [number, number] };
  return {
    source: model.source,
    config: { ...c, imageSize: [h, w], preprocess },
    weights: { ...model.weights, pos: { shape: [1, prefix + newGrid[0] * newGrid[1], c.hiddenSize], data } },
  };
}

/**
 * Checkpoint files that are symlinks resolving outside the model directory. They are loaded (the hub cache
 * itself links snapshots/<commit>/<file> to ../../blobs/<etag>, so links inside the cached repo count as
 * inside), and `vit inspect` lists them.
 */
export async function linksOutside(dir: string, files: string[]): Promise<{ file: string; target: string }[]> {
  const real = async (p: string) => realpath(p).catch(() => resolve(p));
  const inHubCache = basename(dirname(resolve(dir))) === 'snapshots';
  const root = await real(inHubCache ? join(dir, '..', '..') : dir);
  const out: { file: string; target: string }[] = [];
  for (const f of files) {
    if (!/^[a-z]+:/i.test(f) || isAbsolute(f)) {
      const target = await real(f);
      const rel = relative(root, target);
      if (rel.startsWith('..') || isAbsolute(rel)) out.push({ file: basename(f), target });
    }
  }
  return out;
}

/** What `vit inspect` prints. */
export async function inspectCheckpoint(source: CheckpointSource) {
  const { dir, files, spec } = await describeCheckpoint(source);
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  let bytes = 0;
  for (const n of files.names()) {
    const info = files.info(n);
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
    parameters += info.shape.reduce((a, b) => a * b, 1);
    bytes += info.end - info.begin;
  }
  const { labels, ...config } = spec.config;
  return {
    path: dir,
    files: files.files.map((f) => basename(f)),
    linkedOutside: await linksOutside(dir, files.files),
    format: spec.config.format,
    config: { ...config, labels: labels ? `${labels.length} names (${labels.slice(0, 3).join(', ')}, ...)` : undefined },
    tensors: files.names().length,
    parameters,
    bytes,
    dtypes,
    ignoredTensors: spec.ignored,
  };
}
