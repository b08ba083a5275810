#!/usr/bin/env node
// Preprocessed pixels of every image in a folder, as a fixture-shaped safetensors file (pixel_values + files),
// so other engines run on exactly our inputs (bench/peers/autocast_logits.py). Needs the build (dist/).
//   node scripts/photo-pixels.mjs --model DIR --images DIR --out FILE.safetensors
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openModel, preprocessImage } from '../dist/index.js';
import { encodeSafetensors } from '../dist/dev/index.js';
import { walkInputs } from '../dist/util/inputs.js';

const { values: a } = parseArgs({ options: { model: { type: 'string' }, images: { type: 'string' }, out: { type: 'string' } } });
if (!a.model || !a.images || !a.out) throw new Error('usage: photo-pixels --model DIR --images DIR --out FILE');
const model = await openModel(a.model);
const c = model.config;
const files = [];
const rows = [];
for await (const i of walkInputs([a.images])) {
  try {
    rows.push(await preprocessImage(i.path, c.preprocess, c.imageSize));
    files.push(i.display);
  } catch {
    // not a decodable image: left out
  }
}
const per = c.numChannels * c.imageSize[0] * c.imageSize[1];
const px = new Float32Array(rows.length * per);
rows.forEach((r, i) => px.set(r, i * per));
await writeFile(a.out, encodeSafetensors({ pixel_values: { shape: [rows.length, c.numChannels, ...c.imageSize], data: px } }, { files: JSON.stringify(files), source: 'vit-engine preprocessing' }));
console.log(`photo-pixels: ${rows.length} images -> ${a.out}`);
