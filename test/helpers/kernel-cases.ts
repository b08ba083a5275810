/** Inputs the webgpu tests run on (test/webgpu.test.ts in fp32, test/webgpu-f16.test.ts in SIMT f16). */
import { syntheticModel } from '../../dev/synthetic.js';
import type { GemmEpilogue } from '../../engine/webgpu/kernels/gemm.js';
import type { ViTModel } from '../../model/weights.js';
import { randomArray } from '../../util/random.js';

/** GEMM shapes every shipped tile runs. */
export const GEMM_CASES: readonly { M: number; K: number; N: number; epi: GemmEpilogue }[] = [
  { M: 67, K: 96, N: 100, epi: 'bias-gelu-tanh' },
  { M: 131, K: 52, N: 36, epi: 'bias-residual' },
  { M: 5, K: 192, N: 200, epi: 'bias-gelu' },
  { M: 40, K: 64, N: 10, epi: 'bias' },
];

/** LayerNorm cases, dense rows and class-token rows (every `stride`-th row), with their inputs: x has an offset
 * mean (3) and non-unit spread, as residual streams have; `rows` are the rows the kernel normalises. */
export function layerNormCases() {
  return [{ rows: 37, D: 96, eps: 1e-12, stride: 1 }, { rows: 3, D: 192, eps: 1e-6, stride: 5 }].map((c) => {
    const x = randomArray(c.rows * c.stride * c.D, 99 + c.D, 2).map((v) => v + 3);
    const g = randomArray(c.D, 3, 0.3).map((v) => v + 1);
    const b = randomArray(c.D, 4, 0.2);
    const rows = new Float32Array(c.rows * c.D);
    for (let r = 0; r < c.rows; r++) rows.set(x.subarray(r * c.stride * c.D, (r * c.stride + 1) * c.D), r * c.D);
    return { ...c, x, g, b, selected: rows };
  });
}

/** Small plain, distilled and headless distilled models for the webgpu feature-output tests (fp32 and fp16). */
export function featureModels(): ViTModel[] {
  return [
    syntheticModel({ D: 32, layers: 1, heads: 2, mlp: 64, classes: 5, P: 8, size: [16, 24] }, 1),
    syntheticModel({ D: 32, layers: 1, heads: 2, mlp: 64, classes: 5, P: 8, size: [16, 24], distilled: true }, 2),
    syntheticModel({ D: 32, layers: 1, heads: 2, mlp: 64, classes: 0, P: 8, size: [16, 16], distilled: true }, 3),
  ];
}
