/**
 * Tiled fp32 GEMM with a fused epilogue:  C[M, N] (op)= act(A[M, K] · B[K, N] + bias[N]).
 *
 * A is row-major with row stride K (activations, K contiguous); B is the weight pre-transposed at
 * upload to [K, Npad] (N contiguous, Npad = N rounded up to 4, zero columns in the padding) so both
 * tile loads are coalesced vec4 reads. One workgroup computes a BM x BN block of C with
 * (BM/8)*(BN/8) threads, each holding an 8x8 micro tile in registers: rows {ty*4+i, ty*4+BM/2+i}
 * and columns {tx*4+j, tx*4+BN/2+j} (two vec4 per row half), so the inner product reads two vec4
 * of A and two of B from workgroup memory per k and does 64 FMAs. A tiles are stored transposed
 * (k-major) so those reads are vec4 too. Workgroup memory is double buffered: the next K tile is
 * fetched into registers while the current one is multiplied, then written to the other buffer,
 * with one barrier per K step.
 *
 * M arrives in a uniform (it depends on the batch); K, N and the tile shape are baked into the
 * source (one pipeline per layer shape). Requires K % 4 == 0.
 */

import { GELU_WGSL } from './activation.js';

export type GemmEpilogue = 'bias' | 'bias-gelu' | 'bias-gelu-tanh' | 'bias-residual';

export interface GemmShape {
  /** Inner dimension (row stride of A); multiple of 4. */
  K: number;
  /** Output columns; C's row stride. */
  N: number;
  epilogue: GemmEpilogue;
  /** Block tile; BM and BN multiples of 32 (so thread layout and vec4 halves divide evenly). */
  BM?: number;
  BN?: number;
  /** K step per workgroup-memory tile; multiple of 4. */
  BK?: number;
}

export interface GemmKernel {
  code: string;
  BM: number;
  BN: number;
  BK: number;
  threads: number;
  /** Number of workgroups along x (N) and y (M) for M rows. */
  grid(M: number): [number, number];
}

export const pad4 = (n: number) => Math.ceil(n / 4) * 4;

export function gemmKernel(s: GemmShape): GemmKernel {
  const { K, N, epilogue } = s;
  const BM = s.BM ?? 128;
  const BN = s.BN ?? 128;
  const BK = s.BK ?? 8;
  if (K % 4) throw new Error(`engine/webgpu/kernels/gemm.ts: K=${K} must be a multiple of 4`);
  if (BM % 32 || BN % 32 || BK % 4) throw new Error(`engine/webgpu/kernels/gemm.ts: bad tile ${BM}x${BN}x${BK}`);
  const TX = BN / 8; // threads along N
  const TY = BM / 8; // threads along M
  const T = TX * TY;
  const NP = pad4(N);
  const aVec = (BM * BK) / 4; // vec4 per A tile
  const bVec = (BK * BN) / 4;
  if (aVec % T || bVec % T) throw new Error(`engine/webgpu/kernels/gemm.ts: tile ${BM}x${BN}x${BK} does not split over ${T} threads`);
  const aLoads = aVec / T;
  const bLoads = bVec / T;
  const vecOut = N % 4 === 0;
  const act =
    epilogue === 'bias-gelu' ? 'v = gelu_erf_v4(v);' : epilogue === 'bias-gelu-tanh' ? 'v = gelu_tanh_v4(v);' : '';
  const residual = epilogue === 'bias-residual';

  // Store one vec4 `v` of output row m, columns n..n+3 (n < NP always holds; columns >= N are padding).
  const store = vecOut
    ? `
      let o = (m * ${N / 4}u) + (n >> 2u);
      ${residual ? 'v = v + C[o];' : ''}
      C[o] = v;`
    : `
      for (var j = 0u; j < 4u; j++) {
        if (n + j < ${N}u) {
          let o = m * ${N}u + n + j;
          ${residual ? 'C[o] = C[o] + v[j];' : 'C[o] = v[j];'}
        }
      }`;

  const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  // Global -> registers for K tile starting at k-offset kt. A tile element l: row l / (BK/4), k-quad
  // l % (BK/4). B tile element l: k-row l / (BN/4), column quad l % (BN/4). Outside M, K or Npad reads 0.
  const fetch = (kt: string) => `
    ${rep(aLoads, (i) => `{
      let l = tid + ${i * T}u;
      let r = m0 + l / ${BK / 4}u;
      let k = ${kt} + (l % ${BK / 4}u) * 4u;
      ra${i} = vec4<f32>(0.0);
      if (r < M && k < K) { ra${i} = A[r * ${K / 4}u + (k >> 2u)]; }
    }`)}
    ${rep(bLoads, (i) => `{
      let l = tid + ${i * T}u;
      let k = ${kt} + l / ${BN / 4}u;
      let nq = n0 / 4u + l % ${BN / 4}u;
      rb${i} = vec4<f32>(0.0);
      if (k < K && nq < NP4) { rb${i} = B[k * NP4 + nq]; }
    }`)}`;
  // Registers -> workgroup buffer buf. A goes in transposed: element (r, k + c) to As[(k + c) * BM + r],
  // i.e. vec4 index (k + c) * BM/4 + r/4, component r % 4.
  const stash = (buf: string) => `
    ${rep(aLoads, (i) => `{
      let l = tid + ${i * T}u;
      let r = l / ${BK / 4}u;
      let k = (l % ${BK / 4}u) * 4u;
      let base = ${buf} * ${aVec}u + r / 4u;
      As[base + (k + 0u) * ${BM / 4}u][r % 4u] = ra${i}.x;
      As[base + (k + 1u) * ${BM / 4}u][r % 4u] = ra${i}.y;
      As[base + (k + 2u) * ${BM / 4}u][r % 4u] = ra${i}.z;
      As[base + (k + 3u) * ${BM / 4}u][r % 4u] = ra${i}.w;
    }`)}
    ${rep(bLoads, (i) => `Bs[${buf} * ${bVec}u + tid + ${i * T}u] = rb${i};`)}`;
  // acc{2i+h}: micro-tile row i (a0.xyzw then a1.xyzw), column half h (b0, b1).
  const comps = ['x', 'y', 'z', 'w'];
  const fmas = rep(16, (j) => {
    const i = j >> 1;
    return `      acc${j} = fma(vec4<f32>(a${i >> 2}.${comps[i & 3]}), b${j & 1}, acc${j});`;
  });
  const epilogueCode = rep(16, (j) => {
    const i = j >> 1;
    const h = j & 1;
    return `  {
    let m = m0 + ty * 4u + ${(i & 3) + (i >> 2) * (BM / 2)}u;
    let n = n0 + tx * 4u + ${h * (BN / 2)}u;
    if (m < M && n < ${NP}u) {
      var v = acc${j} + bias[n >> 2u];
      ${act}
      ${store}
    }
  }`;
  });

  const code = /* wgsl */ `
${act ? GELU_WGSL : ''}
struct Params { M: u32, _p1: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<${vecOut ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(4) var<uniform> P: Params;

const K = ${K}u;
const NP4 = ${NP / 4}u;   // vec4 per row of B
const BK = ${BK}u;
const KTILES = ${Math.ceil(K / BK)}u;

// k-major tiles As[k][m], Bs[k][n] as vec4 along m / n; two buffers each (double buffering).
var<workgroup> As: array<vec4<f32>, ${2 * aVec}>;
var<workgroup> Bs: array<vec4<f32>, ${2 * bVec}>;

@compute @workgroup_size(${T})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let M = P.M;
  let m0 = wg.y * ${BM}u;
  let n0 = wg.x * ${BN}u;
  let tx = tid % ${TX}u;
  let ty = tid / ${TX}u;
  ${rep(aLoads, (i) => `var ra${i}: vec4<f32>;`)}
  ${rep(bLoads, (i) => `var rb${i}: vec4<f32>;`)}
  ${rep(16, (j) => `var acc${j} = vec4<f32>(0.0);`)}

  ${fetch('0u')}
  ${stash('0u')}
  workgroupBarrier();

  for (var t = 0u; t < KTILES; t++) {
    let cur = t % 2u;
    let hasNext = t + 1u < KTILES;   // uniform: no barrier depends on non-uniform flow
    if (hasNext) {
      ${fetch('(t + 1u) * BK')}
    }
    let aBase = cur * ${aVec}u;
    let bBase = cur * ${bVec}u;
    for (var k = 0u; k < BK; k++) {
      let a0 = As[aBase + k * ${BM / 4}u + ty];
      let a1 = As[aBase + k * ${BM / 4}u + ty + ${BM / 8}u];
      let b0 = Bs[bBase + k * ${BN / 4}u + tx];
      let b1 = Bs[bBase + k * ${BN / 4}u + tx + ${BN / 8}u];
${fmas}
    }
    if (hasNext) {
      ${stash('(1u - cur)')}
    }
    workgroupBarrier();
  }

  // Epilogue: bias, activation, optional residual add, bounds-checked store.
${epilogueCode}
}
`;
  return {
    code,
    BM,
    BN,
    BK,
    threads: T,
    grid: (M: number) => [Math.ceil(N / BN), Math.ceil(M / BM)],
  };
}
