import { syntheticModel } from './dist/dev/synthetic.js';
import { createSession } from './dist/engine/session.js';
import { forward64 } from './dist/model/reference.js';
import { randomArray } from './dist/util/random.js';
const c = { D: 64, layers: 2, heads: 2, mlp: 160, classes: 10, P: 8, size: [48, 72], batch: 3, act: 'gelu_tanh', eps: 1e-12 };
const model = syntheticModel(c);
const px = randomArray(c.batch * 3 * c.size[0] * c.size[1], 77);
const ref = forward64(model, px, c.batch);
for (const precision of ['fp32', 'fp16']) {
  const t0 = Date.now();
  const s = await createSession(model, 'webgpu', { precision });
  const got = await s.run(px, c.batch);
  let md = 0, mr = 0; for (let i = 0; i < ref.length; i++) { md = Math.max(md, Math.abs(got[i] - ref[i])); mr = Math.max(mr, Math.abs(ref[i])); }
  console.log(s.describe(), 'max|d|', md, 'max|ref|', mr, Date.now() - t0, 'ms');
  await s.dispose();
}
