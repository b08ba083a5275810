/**
 * Reference fixtures: a safetensors file with `pixel_values` F32 [N,3,H,W] and `logits` F32 [N,K], and
 * `__metadata__` strings `source` (implementation and version) and optionally `files` (JSON list of image names).
 */
import type { Tensor } from '../model/weights.js';
import { readSafetensors } from './safetensors/read.js';

export interface Fixture {
  path: string;
  pixels: Tensor;
  logits: Tensor;
  source: string;
  files?: string[];
}

export async function readFixture(path: string): Promise<Fixture> {
  const { header, tensors } = await readSafetensors(path);
  const pixels = tensors.pixel_values;
  const logits = tensors.logits;
  if (!pixels || pixels.shape.length !== 4) throw new Error(`${path}: fixture needs pixel_values [N, C, H, W]`);
  if (!logits || logits.shape.length !== 2 || logits.shape[0] !== pixels.shape[0]) {
    throw new Error(`${path}: fixture needs logits [N, K] with the same N as pixel_values`);
  }
  let files: string[] | undefined;
  if (header.metadata.files) {
    try {
      files = JSON.parse(header.metadata.files) as string[];
    } catch {
      throw new Error(`${path}: __metadata__.files is not a JSON list`);
    }
  }
  return { path, pixels, logits, source: header.metadata.source ?? 'unknown', files };
}
