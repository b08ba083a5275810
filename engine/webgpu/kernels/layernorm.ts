/**
 * LayerNorm over rows of width D (D % 4 == 0): one workgroup of 64 threads per row. Each thread keeps
 * its ceil(D/4/64) vec4 of the row in registers, so the row is read once; mean and then the biased
 * variance of (x - mean) are reduced in two passes over those registers (exact two-pass, fp32),
 * each through a workgroup-memory tree.
 *
 * Rows are addressed with strides so the same kernel also gathers the class token of each image
 * for the final norm: input row r starts at r * inStride, output row r at r * outStride (in vec4).
 * Rows may exceed 65535, so the grid is 2-D: row = wg.y * gridX + wg.x.
 */

export interface LayerNormKernel {
  code: string;
  threads: number;
}

const THREADS = 64;

/** `output` f16 narrows Y on store (input and statistics stay f32). */
export function layerNormKernel(D: number, eps: number, output: 'f32' | 'f16' = 'f32'): LayerNormKernel {
  if (D % 4) throw new Error(`engine/webgpu/kernels/layernorm.ts: width ${D} must be a multiple of 4`);
  const D4 = D / 4;
  const per = Math.ceil(D4 / THREADS);
  const rep = (f: (i: number) => string) => Array.from({ length: per }, (_, i) => f(i)).join('\n  ');
  // eps as an exactly representable f32 literal (1e-12 and 1e-6 are both fine as decimal literals).
  const epsLit = Math.fround(eps).toExponential(9).replace('e+', 'e');
  const f16 = output === 'f16';
  const code = /* wgsl */ `${f16 ? 'enable f16;' : ''}
struct Params { rows: u32, inStride: u32, outStride: u32, gridX: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> beta: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> Y: array<vec4<${output}>>;
@group(0) @binding(4) var<uniform> P: Params;

const D4 = ${D4}u;
var<workgroup> red: array<f32, ${THREADS}>;

fn reduceSum(tid: u32, v: f32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  for (var s = ${THREADS / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();   // everyone has read red[0] before the next reduction overwrites it
  return total;
}

@compute @workgroup_size(${THREADS})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let row = wg.y * P.gridX + wg.x;
  if (row >= P.rows) { return; }   // uniform across the workgroup
  let xb = row * P.inStride;
  let yb = row * P.outStride;
  ${rep((i) => `let c${i} = tid + ${i * THREADS}u;\n  var x${i} = vec4<f32>(0.0);\n  if (c${i} < D4) { x${i} = X[xb + c${i}]; }`)}
  var s = 0.0;
  ${rep((i) => `s += x${i}.x + x${i}.y + x${i}.z + x${i}.w;`)}
  let mean = reduceSum(tid, s) / ${D}.0;
  var q = 0.0;
  ${rep((i) => `if (c${i} < D4) { let d = x${i} - mean; q += dot(d, d); }`)}
  let rstd = inverseSqrt(reduceSum(tid, q) / ${D}.0 + ${epsLit});
  ${rep((i) => `if (c${i} < D4) { Y[yb + c${i}] = ${f16 ? 'vec4<f16>(' : ''}(x${i} - mean) * rstd * gamma[c${i}] + beta[c${i}]${f16 ? ')' : ''}; }`)}
}
`;
  return { code, threads: THREADS };
}
