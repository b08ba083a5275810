/**
 * One entry point for a model spec: a local directory or safetensors file, a Hugging Face Hub id
 * (`org/name[@revision]`, downloaded into the HF cache), or `random:<arch>`.
 */
import type { PosEmbedResample } from '../model/config.js';
import type { ViTModel } from '../model/weights.js';
import { loadModel, withImageSize } from './checkpoint.js';
import { resolveModel, type ResolveOptions } from './hub.js';
import { isRandomSpec, randomModel } from './random.js';

export interface OpenModelOptions {
  imageSize?: [number, number];
  posEmbedResample?: PosEmbedResample;
  hub?: ResolveOptions;
}

export async function openModel(spec: string, opts: OpenModelOptions = {}): Promise<ViTModel> {
  let model: ViTModel;
  if (isRandomSpec(spec)) model = randomModel(spec);
  else model = await loadModel(await resolveModel(spec, opts.hub));
  model.source = spec;
  return opts.imageSize ? withImageSize(model, opts.imageSize, opts.posEmbedResample) : model;
}

/** "384" -> [384, 384]; "224x320" -> [224, 320] (height x width). */
export function parseImageSize(s: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`image size "${s}": expected N or HxW (e.g. 384 or 224x320)`);
  const h = Number(m[1]);
  return [h, m[2] ? Number(m[2]) : h];
}
