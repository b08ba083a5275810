/**
 * Patch embedding around the GEMM, and the token sequence assembly.
 *
 *  im2col: pixels [B, C, H, W] -> patches [B*gh*gw, C*P*P], column c*P*P + y*P + x (the flattening of
 *          a conv weight [D, C, P, P]), so patch_embed is the GEMM patches · W^T + b.
 *  embed:  x[b, t] = prefixTokens[t] + pos[t] for t < prefix (class, distillation token);
 *          x[b, prefix + p] = patchOut[b*gh*gw + p] + pos[prefix + p]   (vec4 along D).
 *  pool:   y[b] = mean of x[b, first .. first + count - 1] (final features: mean pooling, distilled class token).
 *
 * Both are element-wise over a flat index, 256 threads a workgroup on a 2-D grid (gridX workgroups
 * a row) since B*N*D/4 can exceed 65535 workgroups: i = (wg.y * gridX + wg.x) * 256 + lid.
 */

export const ELEMENTWISE_THREADS = 256;

/** Workgroup grid [x, y] covering `count` threads of ELEMENTWISE_THREADS-wide workgroups (or rows of 1). */
export function grid2d(workgroups: number): [number, number] {
  const x = Math.max(1, Math.min(workgroups, 65535));
  return [x, Math.ceil(workgroups / x)];
}

/** `output` f16 narrows the patches on store. */
export function im2colKernel(C: number, H: number, W: number, P: number, output: 'f32' | 'f16' = 'f32'): string {
  const gh = Math.floor(H / P);
  const gw = Math.floor(W / P);
  const K = C * P * P;
  return /* wgsl */ `${output === 'f16' ? 'enable f16;' : ''}
struct Params { total: u32, gridX: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<${output}>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let e = (wg.y * P.gridX + wg.x) * ${ELEMENTWISE_THREADS}u + lid;
  if (e >= P.total) { return; }
  let row = e / ${K}u;
  let col = e % ${K}u;
  let b = row / ${gh * gw}u;
  let p = row % ${gh * gw}u;
  let py = p / ${gw}u;
  let px = p % ${gw}u;
  let c = col / ${P * P}u;
  let r = col % ${P * P}u;
  let y = py * ${P}u + r / ${P}u;
  let x = px * ${P}u + r % ${P}u;
  Y[e] = ${output === 'f16' ? 'f16(' : ''}X[((b * ${C}u + c) * ${H}u + y) * ${W}u + x]${output === 'f16' ? ')' : ''};
}
`;
}

/** `prefix` tokens (class, distillation) before the patches; `input` f16: the patch-GEMM output PE is f16 (x, prefix tokens and pos stay f32). */
export function embedKernel(N: number, D: number, prefix = 1, input: 'f32' | 'f16' = 'f32'): string {
  const D4 = D / 4;
  return /* wgsl */ `${input === 'f16' ? 'enable f16;' : ''}
struct Params { total: u32, gridX: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> PE: array<vec4<${input}>>;
@group(0) @binding(1) var<storage, read> prefixTokens: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> pos: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> X: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let e = (wg.y * P.gridX + wg.x) * ${ELEMENTWISE_THREADS}u + lid;
  if (e >= P.total) { return; }
  let tokRow = e / ${D4}u;       // b * N + t
  let d = e % ${D4}u;
  let b = tokRow / ${N}u;
  let t = tokRow % ${N}u;
  var v: vec4<f32>;
  if (t < ${prefix}u) {
    v = prefixTokens[t * ${D4}u + d];
  } else {
    v = ${input === 'f16' ? 'vec4<f32>(' : ''}PE[(b * ${N - prefix}u + t - ${prefix}u) * ${D4}u + d]${input === 'f16' ? ')' : ''};
  }
  X[e] = v + pos[t * ${D4}u + d];
}
`;
}

/**
 * y[b] = (1 / count) * sum of x[b * N + t] for t in [first, first + count), rows of D (vec4 along D).
 * `input` / `output` f16 (fp16 plans: the final LayerNorm output, the head GEMM's A): the sum stays f32.
 */
export function poolKernel(N: number, D: number, first: number, count: number, input: 'f32' | 'f16' = 'f32', output: 'f32' | 'f16' = 'f32'): string {
  const D4 = D / 4;
  const f16 = input === 'f16' || output === 'f16';
  return /* wgsl */ `${f16 ? 'enable f16;' : ''}
struct Params { total: u32, gridX: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec4<${input}>>;
@group(0) @binding(1) var<storage, read_write> Y: array<vec4<${output}>>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(${ELEMENTWISE_THREADS})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let e = (wg.y * P.gridX + wg.x) * ${ELEMENTWISE_THREADS}u + lid;
  if (e >= P.total) { return; }
  let b = e / ${D4}u;
  let d = e % ${D4}u;
  var s = vec4<f32>(0.0);
  for (var t = ${first}u; t < ${first + count}u; t++) {
    s += vec4<f32>(X[(b * ${N}u + t) * ${D4}u + d]);
  }
  Y[e] = vec4<${output}>(s * ${(1 / count).toPrecision(9)});
}
`;
}
