/**
 * f16 GEMM on subgroup matrices (tensor cores through `chromium_experimental_subgroup_matrix`):
 * C[M, N] (op)= act(A[M, K] · B[K, N] + bias[N]) with A, B f16, products accumulated in f32.
 *
 * Same operands and epilogues as the SIMT GEMM (gemm.ts): A row-major [M, K] f16, B the weight
 * pre-transposed to [K, pad4(N)] f16, bias f32, C f32 or f16. One workgroup computes a BM x BN block
 * with WM x WN subgroups; each subgroup owns an (FM*16) x (FN*16) block held in FM*FN 16x16 f32 result
 * matrices. Per K step the workgroup stages a BM x BK tile of A and a BK x BN tile of B in workgroup
 * memory (row-major, rows padded by 8 halves so rows start 16 bytes apart and spread over banks): the next
 * tile is fetched into registers (vec4<f16>) while the current one is multiplied, then written to the other
 * buffer, one barrier per step (`stages` 2), or to the same buffer after a second barrier (`stages` 1). Each 16-deep slice loads FM left and FN right
 * matrices and issues FM*FN multiply-accumulates.
 *
 * Epilogue: each result matrix goes through a 16x16 f32 scratch per subgroup (subgroupMatrixStore), then
 * the subgroup's lanes add bias, apply the activation and store (bounds-checked) four columns at a time.
 *
 * The generator assumes subgroups of SG invocations (the adapter's fixed subgroup size) and the f16->f32
 * 16x16x16 configuration; subgroup k of the workgroup is `subgroup_id`.
 */

import { GELU_WGSL } from './activation.js';
import { pad4, type GemmEpilogue, type StorageType } from './gemm.js';

/** Block tile and subgroup grid. BM = WM * FM * 16, BN = WN * FN * 16 for whole FM, FN. */
export interface SgmatConfig {
  BM: number;
  BN: number;
  /** K per staged tile; multiple of 16. */
  BK: number;
  /** Subgroups along M and N. */
  WM: number;
  WN: number;
  /** Staged tile buffers: 2 (default; one barrier per K step) or 1 (half the workgroup memory, two barriers). */
  stages?: 1 | 2;
}

export interface SgmatShape extends SgmatConfig {
  K: number;
  N: number;
  epilogue: GemmEpilogue;
  output?: StorageType;
  /** Invocations per subgroup (32 on NVIDIA). */
  SG?: number;
}

export interface SgmatKernel {
  code: string;
  threads: number;
  workgroupBytes: number;
  grid(M: number): [number, number];
}

export const sgmatKey = (c: SgmatConfig) => `${c.BM}x${c.BN}x${c.BK} w${c.WM}x${c.WN}${c.stages === 1 ? ' s1' : ''}`;

const ERR = 'engine/webgpu/kernels/gemm-sgmat.ts';
const F = 16; // fragment edge (the 16x16x16 configuration)
const PAD = 8; // halves of padding per staged row: 16 bytes

export function sgmatKernel(s: SgmatShape): SgmatKernel {
  const { K, N, epilogue, BM, BN, BK, WM, WN } = s;
  const OUT = s.output ?? 'f32';
  const SG = s.SG ?? 32;
  const FM = BM / (WM * F);
  const FN = BN / (WN * F);
  if (K % 4 || BK % F || !Number.isInteger(FM) || !Number.isInteger(FN) || FM < 1 || FN < 1) {
    throw new Error(`${ERR}: bad tile ${sgmatKey(s)} for K=${K}`);
  }
  const NSG = WM * WN;
  const T = NSG * SG;
  const NP = pad4(N);
  const ASTR = BK + PAD;
  const BSTR = BN + PAD;
  const aBuf = BM * ASTR;
  const bBuf = BK * BSTR;
  const aVec = (BM * BK) / 4;
  const bVec = (BK * BN) / 4;
  const aLoads = Math.ceil(aVec / T);
  const bLoads = Math.ceil(bVec / T);
  const perLane = (F * F) / 4 / SG; // vec4 of one 16x16 result per lane
  if (!Number.isInteger(perLane) || perLane < 1) throw new Error(`${ERR}: subgroup size ${SG} does not split a 16x16 result`);
  const ST = s.stages ?? 2;
  const workgroupBytes = ST * 2 * (aBuf + bBuf) + 4 * NSG * F * F;

  const rep = (n: number, f: (i: number) => string, sep = '\n') => Array.from({ length: n }, (_, i) => f(i)).join(sep);
  const act = epilogue === 'bias-gelu' ? 'v = gelu_erf_v4(v);' : epilogue === 'bias-gelu-tanh' ? 'v = gelu_tanh_v4(v);' : '';
  const residual = epilogue === 'bias-residual';
  const vecOut = N % 4 === 0;
  const h = OUT === 'f16';
  const store = vecOut
    ? `
        let o = m * ${N / 4}u + (n >> 2u);
        ${residual ? (h ? 'v = v + vec4<f32>(C[o]);' : 'v = v + C[o];') : ''}
        C[o] = ${h ? 'vec4<f16>(v)' : 'v'};`
    : `
        for (var j = 0u; j < 4u; j++) {
          if (n + j < ${N}u) {
            let o = m * ${N}u + n + j;
            ${h ? (residual ? 'C[o] = f16(f32(C[o]) + v[j]);' : 'C[o] = f16(v[j]);') : residual ? 'C[o] = C[o] + v[j];' : 'C[o] = v[j];'}
          }
        }`;

  // Global -> registers for the tile at k-offset kt (zeros outside M, K, Npad). A vec4 l: row l / (BK/4),
  // k-quad l % (BK/4); B vec4 l: k-row l / (BN/4), column quad l % (BN/4).
  const guard = (vecs: number, i: number) => ((i + 1) * T > vecs ? `l < ${vecs}u && ` : '');
  const fetch = (kt: string) => `
    ${rep(aLoads, (i) => `{
      let l = tid + ${i * T}u;
      let r = m0 + l / ${BK / 4}u;
      let k = ${kt} + (l % ${BK / 4}u) * 4u;
      ra${i} = vec4<f16>(0.0h);
      if (${guard(aVec, i)}r < M && k < ${K}u) { ra${i} = A[r * ${K / 4}u + (k >> 2u)]; }
    }`)}
    ${rep(bLoads, (i) => `{
      let l = tid + ${i * T}u;
      let k = ${kt} + l / ${BN / 4}u;
      let nq = n0 / 4u + l % ${BN / 4}u;
      rb${i} = vec4<f16>(0.0h);
      if (${guard(bVec, i)}k < ${K}u && nq < ${NP / 4}u) { rb${i} = B[k * ${NP / 4}u + nq]; }
    }`)}`;
  const put = (arr: string, base: string, r: string) => rep(4, (c) => `${arr}[${base} + ${c}u] = ${r}.${'xyzw'[c]};`, ' ');
  const stash = (buf: string) => `
    ${rep(aLoads, (i) => `{
      let l = tid + ${i * T}u;
      ${(i + 1) * T > aVec ? `if (l < ${aVec}u) ` : ''}{ let o = ${buf} * ${aBuf}u + (l / ${BK / 4}u) * ${ASTR}u + (l % ${BK / 4}u) * 4u; ${put('As', 'o', `ra${i}`)} }
    }`)}
    ${rep(bLoads, (i) => `{
      let l = tid + ${i * T}u;
      ${(i + 1) * T > bVec ? `if (l < ${bVec}u) ` : ''}{ let o = ${buf} * ${bBuf}u + (l / ${BN / 4}u) * ${BSTR}u + (l % ${BN / 4}u) * 4u; ${put('Bs', 'o', `rb${i}`)} }
    }`)}`;

  const L = `subgroup_matrix_left<f16, ${F}, ${F}>`;
  const R = `subgroup_matrix_right<f16, ${F}, ${F}>`;
  const slice = (q: number) => `    {
${rep(FM, (i) => `      let a${i} = subgroupMatrixLoad<${L}, row_major>(&As, aBase + ${(i * F) * ASTR + q * F}u, ${ASTR}u);`)}
${rep(FN, (j) => `      let b${j} = subgroupMatrixLoad<${R}, row_major>(&Bs, bBase + ${q * F * BSTR + j * F}u, ${BSTR}u);`)}
${rep(FM * FN, (x) => `      c${x} = subgroupMatrixMultiplyAccumulate(a${Math.floor(x / FN)}, b${x % FN}, c${x});`)}
    }`;

  // Result x = (i, j): rows m0 + wm*FM*16 + i*16 .., columns n0 + wn*FN*16 + j*16 ..
  const epi = rep(FM * FN, (x) => {
    const i = Math.floor(x / FN);
    const j = x % FN;
    return `  subgroupMatrixStore<row_major>(&Sc, sg * ${F * F}u, c${x}, ${F}u);
  workgroupBarrier();
${rep(perLane, (e) => `  {
    let q = lane + ${e * SG}u;            // vec4 of this 16x16 result: row q / 4, columns (q % 4) * 4 ..
    let s = sg * ${F * F}u + q * 4u;
    let m = m0 + rowBase + ${i * F}u + q / 4u;
    let n = n0 + colBase + ${j * F}u + (q % 4u) * 4u;
    if (m < M && n < ${NP}u) {
      var v = vec4<f32>(Sc[s], Sc[s + 1u], Sc[s + 2u], Sc[s + 3u]) + bias[n >> 2u];
      ${act}${store}
    }
  }`)}
  workgroupBarrier();`;
  });

  const code = /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
${act ? GELU_WGSL : ''}
struct Params { M: u32, _p1: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<${vecOut ? `vec4<${OUT}>` : OUT}>;
@group(0) @binding(4) var<uniform> P: Params;

const KTILES = ${Math.ceil(K / BK)}u;
// ${ST} staged A tile(s) [BM][BK + ${PAD}] and B tile(s) [BK][BN + ${PAD}]; one 16x16 f32 scratch per subgroup.
var<workgroup> As: array<f16, ${ST * aBuf}>;
var<workgroup> Bs: array<f16, ${ST * bBuf}>;
var<workgroup> Sc: array<f32, ${NSG * F * F}>;

@compute @workgroup_size(${T})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let M = P.M;
  let m0 = wg.y * ${BM}u;
  let n0 = wg.x * ${BN}u;
  let rowBase = (sg / ${WN}u) * ${FM * F}u;
  let colBase = (sg % ${WN}u) * ${FN * F}u;
  ${rep(aLoads, (i) => `var ra${i}: vec4<f16>;`, '\n  ')}
  ${rep(bLoads, (i) => `var rb${i}: vec4<f16>;`, '\n  ')}
  ${rep(FM * FN, (x) => `var c${x}: subgroup_matrix_result<f32, ${F}, ${F}>;`, '\n  ')}

  ${fetch('0u')}
  ${stash('0u')}
  workgroupBarrier();

  for (var t = 0u; t < KTILES; t++) {
    let cur = ${ST === 2 ? 't % 2u' : '0u'};
    let hasNext = t + 1u < KTILES;   // uniform: no barrier depends on non-uniform flow
    if (hasNext) {
      ${fetch(`(t + 1u) * ${BK}u`)}
    }
    let aBase = cur * ${aBuf}u + rowBase * ${ASTR}u;
    let bBase = cur * ${bBuf}u + colBase;
${rep(BK / F, slice)}
${ST === 1 ? '    workgroupBarrier();   // every subgroup done with the one buffer\n' : ''}    if (hasNext) {
      ${stash(ST === 2 ? '(1u - cur)' : '0u')}
    }
    workgroupBarrier();
  }

  // Epilogue, one 16x16 result at a time through the subgroup's scratch.
${epi}
}
`;
  return { code, threads: T, workgroupBytes, grid: (M: number) => [Math.ceil(N / BN), Math.ceil(M / BM)] };
}
