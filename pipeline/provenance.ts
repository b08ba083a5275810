/**
 * What produced a set of feature vectors, so an index can tell when vectors from two runs are not comparable:
 * the model and its exact weights, the preprocessing, the backend that ran (the chosen one under auto), the
 * precision and the engine version. `vit embed` writes it beside its vectors; a feature-extraction pipeline
 * exposes it as `provenance`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { defaultPrecision, type BackendName, type Precision } from '../engine/types.js';
import { openCheckpointFiles } from '../loaders/safetensors/shards.js';
import type { ViTModel } from '../model/weights.js';

export interface Provenance {
  engine: string;
  engineVersion: string;
  model: string;
  /** The hub commit of the snapshot used, for a hub id. */
  revision?: string;
  /** sha256 of each checkpoint file (absent for random:<arch>, whose weights the spec itself fixes). */
  weightsSha256?: Record<string, string>;
  architecture: string;
  checkpointFormat: string;
  pool: 'cls' | 'mean';
  normalize: boolean;
  dim: number;
  preprocess: { mode: string; size: [number, number]; cropPct?: number; interpolation: string; rescale: number; mean: number[]; std: number[] };
  /** The backend that ran (under auto, the one chosen). */
  backend: BackendName;
  /** 'auto' when the backend was chosen by --backend auto. */
  requested?: 'auto';
  precision: Precision;
  created: string;
}

export interface ProvenanceOptions {
  /** The model as the user named it (a directory, a hub id, random:<arch>). */
  spec: string;
  /** The local checkpoint path it resolved to (a hub snapshot, a directory); undefined for random:<arch>. */
  resolved: string | undefined;
  model: ViTModel;
  pool: 'cls' | 'mean';
  normalize: boolean;
  backend: BackendName;
  requested?: 'auto';
  precision?: Precision;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** This package's name and version (package.json is one folder up from the sources, two from dist/). */
function enginePackage(): { name: string; version: string } {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vit-engine' && pkg.version) return { name: pkg.name, version: pkg.version };
    } catch {
      // try the next folder up
    }
  }
  throw new Error('provenance: package.json of vit-engine not found');
}

export async function provenance(o: ProvenanceOptions): Promise<Provenance> {
  const pkg = enginePackage();
  const c = o.model.config;
  const p = c.preprocess;
  let weightsSha256: Record<string, string> | undefined;
  if (o.resolved) {
    weightsSha256 = {};
    for (const f of (await openCheckpointFiles(o.resolved)).files) weightsSha256[f.slice(f.lastIndexOf('/') + 1)] = await sha256(f);
  }
  const revision = o.resolved && o.resolved !== o.spec ? /\/snapshots\/([0-9a-f]{40})(\/|$)/.exec(o.resolved)?.[1] : undefined;
  return {
    engine: pkg.name,
    engineVersion: pkg.version,
    model: o.spec,
    ...(revision ? { revision } : {}),
    ...(weightsSha256 ? { weightsSha256 } : {}),
    architecture: c.architecture,
    checkpointFormat: c.format,
    pool: o.pool,
    normalize: o.normalize,
    dim: c.hiddenSize,
    preprocess: { mode: p.mode, size: p.size, ...(p.mode === 'resize-crop' ? { cropPct: p.cropPct } : {}), interpolation: p.interpolation, rescale: p.rescale, mean: p.mean, std: p.std },
    backend: o.backend,
    ...(o.requested ? { requested: o.requested } : {}),
    precision: o.precision ?? defaultPrecision(o.backend),
    created: new Date().toISOString(),
  };
}
