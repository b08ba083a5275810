import type { ViTConfig } from '../../model/config.js';
import { weightSlots } from '../../model/weights.js';

/** What a checkpoint format module gives the loader. */
export interface FormatSpec {
  config: ViTConfig;
  /** Weight slot path (model/weights.ts) -> the checkpoint tensors it is made of (several are stacked along dim 0, e.g. q, k, v). */
  sources: Map<string, string[]>;
  /** Checkpoint tensors deliberately not used (e.g. the HF pooler). */
  ignored: string[];
}

/** A checkpoint this engine cannot run exactly: refused, never run with wrong logits. */
export class UnsupportedCheckpointError extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`${path}: unsupported: ${what}`);
    this.name = 'UnsupportedCheckpointError';
  }
}

/** A checkpoint whose tensors do not fit the architecture its config names. */
export class CheckpointMismatchError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'CheckpointMismatchError';
  }
}

/** A config's size field as [height, width]: `n` or `[h, w]`; undefined when absent. */
export function sizePair(v: unknown): [number, number] | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1])];
  return [Number(v), Number(v)];
}

/** The key map of a format: checkpoint keys per weight slot; a config without qkv bias has no qkv bias slot. */
export function slotSources(config: ViTConfig, keys: (path: string) => string[]): Map<string, string[]> {
  const sources = new Map<string, string[]>();
  for (const { path } of weightSlots(config)) {
    if (!config.qkvBias && path.endsWith('.qkv.bias')) continue;
    sources.set(path, keys(path));
  }
  return sources;
}
