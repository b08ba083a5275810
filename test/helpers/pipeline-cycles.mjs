// Creates, uses and closes a pipeline N times in this process; prints the RSS after each close (bytes, JSON).
// node --expose-gc test/helpers/pipeline-cycles.mjs BACKEND MODEL IMAGE [CYCLES] [IMAGES PER CALL] [IMAGE SIZE]
import { pipeline } from '../../dist/index.js';

const [backend, model, image, n = '20', perCall = '3', size] = process.argv.slice(2);
const rss = [];
for (let i = 0; i < Number(n); i++) {
  const task = i % 2 ? 'image-feature-extraction' : 'image-classification';
  const p = await pipeline(task, model, { backend, workers: 1, batchSize: 2, ...(size ? { imageSize: Number(size) } : {}) });
  const out = await p(Array.from({ length: Number(perCall) }, () => image));
  if (out.length !== Number(perCall)) throw new Error(`cycle ${i}: ${out.length} results`);
  await p.close();
  for (let k = 0; k < 3; k++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  rss.push(process.memoryUsage.rss());
}
console.log(JSON.stringify(rss));
