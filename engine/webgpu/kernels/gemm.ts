/**
 * Tiled fp32 GEMM with a fused epilogue:  C[M, N] (op)= act(A[M, K] · B[K, N] + bias[N]).
 *
 * A is row-major with row stride K (activations, K contiguous); B is the weight pre-transposed at
 * upload to [K, Npad] (N contiguous, Npad = N rounded up to 4, zero columns in the padding) so both
 * tile loads are coalesced vec4 reads. One workgroup computes a BM x BN block of C; each thread holds
 * a TM x TN micro tile (default 8x8) in vec4 registers, its columns in TN/4 groups of 4 strided by
 * BN/(TN/4) ({tx*4+j, tx*4+BN/2+j} for 8x8) so workgroup-memory reads of B are vec4 and consecutive
 * threads read consecutive vec4 (no bank conflicts). Workgroup memory is double buffered: the next K
 * tile is fetched into registers while the current one is multiplied, then written to the other
 * buffer, with one barrier per K step.
 *
 * Two layouts of the A tile in workgroup memory (`aLayout`):
 *  - 'kmajor' (the default, v1/v2): stored transposed, As[k][m] as vec4 along m; a thread's rows are
 *    TM/4 groups of 4 ({ty*4+i, ty*4+BM/2+i} for 8x8), read as one vec4 per group per k. The store
 *    transposes with 4 scalar writes per loaded vec4.
 *  - 'mk': stored as loaded, As[m][k] as vec4 along k (one vec4 store, padded rows where needed so the
 *    reads are conflict-free); a thread's rows are interleaved, {ty + i*TY}, and each 4-k chunk reads
 *    one vec4 per row. Same number of workgroup-memory reads per FMA; the k loop is unrolled.
 *
 * `KS` > 1 (small M) splits K inside the workgroup: KS groups of threads each multiply their own BK
 * slice of a KS*BK-deep tile, then groups 1.. park their sums in workgroup memory and group 0 adds
 * them (in a fixed order, so results are deterministic) and runs the epilogue. More threads per output
 * tile = more workgroups' worth of parallelism when M (the batch) is too small to fill the GPU.
 *
 * M arrives in a uniform (it depends on the batch); K, N and the tile shape are baked into the
 * source (one pipeline per layer shape). Requires K % 4 == 0.
 *
 * Storage types: A and B are f32 or f16 (`input`), C f32 or f16 (`output`); f16 values are widened on
 * load, so workgroup memory, the FMAs, bias and epilogue stay f32 (the SIMT f16 path).
 */

import { GELU_WGSL } from './activation.js';

export type GemmEpilogue = 'bias' | 'bias-gelu' | 'bias-gelu-tanh' | 'bias-residual';
export type GemmALayout = 'kmajor' | 'mk';
/** Storage element type of an operand. */
export type StorageType = 'f32' | 'f16';

/** Tile shape and code layout of one GEMM pipeline. */
export interface GemmConfig {
  /** Block tile; BM a multiple of TM, BN of TN. */
  BM: number;
  BN: number;
  /** K step per workgroup-memory tile (per K group when KS > 1); multiple of 4. */
  BK: number;
  /** Per-thread micro tile, multiples of 4 (default 8 x 8). */
  TM?: number;
  TN?: number;
  /** K split inside the workgroup (default 1; > 1 needs aLayout 'mk'). */
  KS?: number;
  aLayout?: GemmALayout;
  /** Unroll the k loop in the generated source (always on for 'mk'; default off for 'kmajor'). */
  unroll?: boolean;
}

export interface GemmShape extends Partial<GemmConfig> {
  /** Inner dimension (row stride of A); multiple of 4. */
  K: number;
  /** Output columns; C's row stride. */
  N: number;
  epilogue: GemmEpilogue;
  /** A and B element type (default f32). */
  input?: StorageType;
  /** C element type (default f32). */
  output?: StorageType;
}

export interface GemmKernel {
  code: string;
  BM: number;
  BN: number;
  BK: number;
  threads: number;
  /** The full configuration the code was generated for (defaults filled in). */
  config: Required<GemmConfig>;
  /** Workgroup memory the kernel declares. */
  workgroupBytes: number;
  /** Number of workgroups along x (N) and y (M) for M rows. */
  grid(M: number): [number, number];
}

export const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** Defaults filled in; the key names a pipeline uniquely (cache keys, report names). */
export function gemmConfig(c: GemmConfig): Required<GemmConfig> {
  const aLayout = c.aLayout ?? 'kmajor';
  return { BM: c.BM, BN: c.BN, BK: c.BK, TM: c.TM ?? 8, TN: c.TN ?? 8, KS: c.KS ?? 1, aLayout, unroll: aLayout === 'mk' || (c.unroll ?? false) };
}

export function gemmConfigKey(c: GemmConfig): string {
  const f = gemmConfig(c);
  const opts = [
    f.TM !== 8 || f.TN !== 8 ? `t${f.TM}x${f.TN}` : '',
    f.KS > 1 ? `ks${f.KS}` : '',
    f.aLayout === 'mk' ? 'mk' : '',
    f.unroll && f.aLayout !== 'mk' ? 'unroll' : '',
  ].filter(Boolean);
  return `${f.BM}x${f.BN}x${f.BK}${opts.length ? ` ${opts.join(' ')}` : ''}`;
}

const ERR = 'engine/webgpu/kernels/gemm.ts';

export function gemmKernel(s: GemmShape): GemmKernel {
  const { K, N, epilogue } = s;
  const IN = s.input ?? 'f32';
  const OUT = s.output ?? 'f32';
  const widen = (e: string) => (IN === 'f16' ? `vec4<f32>(${e})` : e);
  const cfg = gemmConfig({ BM: s.BM ?? 128, BN: s.BN ?? 128, BK: s.BK ?? 8, TM: s.TM, TN: s.TN, KS: s.KS, aLayout: s.aLayout, unroll: s.unroll });
  const { BM, BN, BK, TM, TN, KS, aLayout, unroll } = cfg;
  const mk = aLayout === 'mk';
  if (K % 4) throw new Error(`${ERR}: K=${K} must be a multiple of 4`);
  if (TM % 4 || TN % 4 || BM % TM || BN % TN || BK % 4 || KS < 1 || (KS > 1 && !mk)) {
    throw new Error(`${ERR}: bad tile ${gemmConfigKey(cfg)}`);
  }
  const GM = TM / 4; // row groups of 4 ('kmajor')
  const GN = TN / 4; // column groups of 4
  const NACC = TM * GN; // vec4 accumulators per thread
  const TX = BN / TN; // threads along N
  const TY = BM / TM; // threads along M
  const TPG = TX * TY; // threads per K group
  const T = TPG * KS;
  const BKT = BK * KS; // K per tile step
  const NP = pad4(N);
  const aVec = (BM * BKT) / 4; // vec4 per A tile (as loaded)
  const bVec = (BKT * BN) / 4;
  if (aVec % T || bVec % T) throw new Error(`${ERR}: tile ${gemmConfigKey(cfg)} does not split over ${T} threads`);
  const aLoads = aVec / T;
  const bLoads = bVec / T;
  // 'mk' row stride in vec4: BKT/4, plus one when the rows one warp reads at once would share banks
  // (32 banks = 8 vec4 slots; a warp reads 32/TX consecutive rows, so an odd stride spreads them).
  const rowsPerWarp = Math.max(1, Math.min(32, T) / TX);
  const ASTR = mk && (BKT / 4) % 2 === 0 && (BKT / 4) * rowsPerWarp > 8 ? BKT / 4 + 1 : BKT / 4;
  const aBuf = mk ? BM * ASTR : aVec; // vec4 per A buffer in workgroup memory
  const red = KS > 1 ? (KS - 1) * NACC * TPG : 0; // vec4 of partial sums parked by groups 1..KS-1
  // One array S (A buffers, then B buffers; reused for the partial sums) when KS > 1, else As / Bs.
  const union = KS > 1;
  const sVec = Math.max(2 * (aBuf + bVec), red);
  const A_ = (i: string) => (union ? `S[${i}]` : `As[${i}]`);
  const B_ = (i: string) => (union ? `S[${2 * aBuf}u + ${i}]` : `Bs[${i}]`);
  const workgroupBytes = 16 * (union ? sVec : 2 * (aBuf + bVec));

  const vecOut = N % 4 === 0;
  const act =
    epilogue === 'bias-gelu' ? 'v = gelu_erf_v4(v);' : epilogue === 'bias-gelu-tanh' ? 'v = gelu_tanh_v4(v);' : '';
  const residual = epilogue === 'bias-residual';

  // Store one vec4 `v` of output row m, columns n..n+3 (n < NP always holds; columns >= N are padding).
  const store = vecOut
    ? `
      let o = (m * ${N / 4}u) + (n >> 2u);
      ${residual ? (OUT === 'f16' ? 'v = v + vec4<f32>(C[o]);' : 'v = v + C[o];') : ''}
      C[o] = ${OUT === 'f16' ? 'vec4<f16>(v)' : 'v'};`
    : `
      for (var j = 0u; j < 4u; j++) {
        if (n + j < ${N}u) {
          let o = m * ${N}u + n + j;
          ${OUT === 'f16' ? (residual ? 'C[o] = f16(f32(C[o]) + v[j]);' : 'C[o] = f16(v[j]);') : residual ? 'C[o] = C[o] + v[j];' : 'C[o] = v[j];'}
        }
      }`;

  const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  // Global -> registers for K tile starting at k-offset kt. A tile element l: row l / (BKT/4), k-quad
  // l % (BKT/4). B tile element l: k-row l / (BN/4), column quad l % (BN/4). Outside M, K or Npad reads 0.
  const fetch = (kt: string) => `
    ${rep(aLoads, (i) => `{
      let l = tid + ${i * T}u;
      let r = m0 + l / ${BKT / 4}u;
      let k = ${kt} + (l % ${BKT / 4}u) * 4u;
      ra${i} = vec4<f32>(0.0);
      if (r < M && k < K) { ra${i} = ${widen(`A[r * ${K / 4}u + (k >> 2u)]`)}; }
    }`)}
    ${rep(bLoads, (i) => `{
      let l = tid + ${i * T}u;
      let k = ${kt} + l / ${BN / 4}u;
      let nq = n0 / 4u + l % ${BN / 4}u;
      rb${i} = vec4<f32>(0.0);
      if (k < K && nq < NP4) { rb${i} = ${widen('B[k * NP4 + nq]')}; }
    }`)}`;
  // Registers -> workgroup buffer buf. 'kmajor': A goes in transposed, element (r, k + c) to
  // As[(k + c) * BM + r], i.e. vec4 index (k + c) * BM/4 + r/4, component r % 4. 'mk': vec4 (r, k/4)
  // to row r, slot k/4 (row stride ASTR).
  const stashA = (buf: string, i: number) =>
    mk
      ? ASTR === BKT / 4
        ? `${A_(`${buf} * ${aBuf}u + tid + ${i * T}u`)} = ra${i};`
        : `{
      let l = tid + ${i * T}u;
      ${A_(`${buf} * ${aBuf}u + (l / ${BKT / 4}u) * ${ASTR}u + l % ${BKT / 4}u`)} = ra${i};
    }`
      : `{
      let l = tid + ${i * T}u;
      let r = l / ${BKT / 4}u;
      let k = (l % ${BKT / 4}u) * 4u;
      let base = ${buf} * ${aVec}u + r / 4u;
      As[base + (k + 0u) * ${BM / 4}u][r % 4u] = ra${i}.x;
      As[base + (k + 1u) * ${BM / 4}u][r % 4u] = ra${i}.y;
      As[base + (k + 2u) * ${BM / 4}u][r % 4u] = ra${i}.z;
      As[base + (k + 3u) * ${BM / 4}u][r % 4u] = ra${i}.w;
    }`;
  const stash = (buf: string) => `
    ${rep(aLoads, (i) => stashA(buf, i))}
    ${rep(bLoads, (i) => `${B_(`${buf} * ${bVec}u + tid + ${i * T}u`)} = rb${i};`)}`;

  const comps = ['x', 'y', 'z', 'w'];
  // B operands of k-row `k` (an expression): b{h} = column group h.
  const loadB = (k: string) =>
    rep(GN, (h) => `      let b${h} = ${B_(`bBase + ${k} * ${BN / 4}u + tx${h ? ` + ${(h * BN) / (4 * GN)}u` : ''}`)};`);
  // acc{i*GN + h}: micro-tile row i, column group h. 'kmajor': row i is component i % 4 of a{i / 4}.
  const fmasK = rep(NACC, (j) => {
    const i = Math.floor(j / GN);
    return `      acc${j} = fma(vec4<f32>(a${i >> 2}.${comps[i & 3]}), b${j % GN}, acc${j});`;
  });
  const stepK = (k: string) => `${rep(GM, (g) => `      let a${g} = As[aBase + ${k} * ${BM / 4}u + ty${g ? ` + ${(g * BM) / (4 * GM)}u` : ''}];`)}
${loadB(k)}
${fmasK}`;
  // 'mk' 4-k chunk q of this group's BK: a{i} = A row ty + i*TY, k-quad q; then 4 k steps.
  const chunkMK = (q: number) => `    {
${rep(TM, (i) => `      let a${i} = ${A_(`aBase + aRow + ${i * TY * ASTR + q}u`)};`)}
${rep(4, (c) => `      {
${loadB(`(kg0 + ${q * 4 + c}u)`)}
${rep(NACC, (j) => `      acc${j} = fma(vec4<f32>(a${Math.floor(j / GN)}.${comps[c]}), b${j % GN}, acc${j});`)}
      }`)}
    }`;
  const body = mk
    ? rep(BK / 4, chunkMK)
    : unroll
      ? rep(BK, (k) => `    {\n${stepK(`${k}u`)}\n    }`)
      : `    for (var k = 0u; k < BK; k++) {
${stepK('k')}
    }`;

  // Output element of accumulator j: row m (relative to m0), column n (relative to n0).
  const rowOf = (i: number) => (mk ? `ty + ${i * TY}u` : `ty * 4u + ${(i & 3) + (i >> 2) * (BM / GM)}u`);
  const epilogueCode = rep(NACC, (j) => {
    const i = Math.floor(j / GN);
    const h = j % GN;
    return `  {
    let m = m0 + ${rowOf(i)};
    let n = n0 + tx * 4u + ${h * (BN / GN)}u;
    if (m < M && n < ${NP}u) {
      var v = acc${j} + bias[n >> 2u];
      ${act}
      ${store}
    }
  }`;
  });
  // KS > 1: groups 1.. park their sums (block (kg-1)*NACC + j of TPG vec4), group 0 adds and stores.
  const epilogueAll = union
    ? `  if (kg != 0u) {
${rep(NACC, (j) => `    S[(kg - 1u) * ${NACC * TPG}u + ${j * TPG}u + lt] = acc${j};`)}
  }
  workgroupBarrier();
  if (kg == 0u) {
${rep(KS - 1, (g) => rep(NACC, (j) => `    acc${j} = acc${j} + S[${(g * NACC + j) * TPG}u + lt];`))}
${epilogueCode}
  }`
    : epilogueCode;

  const decls = union
    ? `// A buffers (2 x ${aBuf} vec4) then B buffers (2 x ${bVec}); reused for the K groups' partial sums.
var<workgroup> S: array<vec4<f32>, ${sVec}>;`
    : `// k-major tiles As[k][m], Bs[k][n] as vec4 along m / n; two buffers each (double buffering).
var<workgroup> As: array<vec4<f32>, ${2 * aBuf}>;
var<workgroup> Bs: array<vec4<f32>, ${2 * bVec}>;`;
  const ids = union
    ? `let lt = tid % ${TPG}u;
  let kg = tid / ${TPG}u;
  let tx = lt % ${TX}u;
  let ty = lt / ${TX}u;`
    : `let tx = tid % ${TX}u;
  let ty = tid / ${TX}u;`;
  // 'mk' per-thread offsets: A row ty (slot of this group's first k-quad), B k-row of this group.
  const mkIds = mk
    ? `
  let kg0 = ${union ? `kg * ${BK}u` : '0u'};
  let aRow = ty * ${ASTR}u + ${union ? `kg * ${BK / 4}u` : '0u'};`
    : '';

  const code = /* wgsl */ `${IN === 'f16' || OUT === 'f16' ? 'enable f16;' : ''}
${act ? GELU_WGSL : ''}
struct Params { M: u32, _p1: u32, _p2: u32, _p3: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4<${IN}>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<${IN}>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<${vecOut ? `vec4<${OUT}>` : OUT}>;
@group(0) @binding(4) var<uniform> P: Params;

const K = ${K}u;
const NP4 = ${NP / 4}u;   // vec4 per row of B
const BK = ${BKT}u;
const KTILES = ${Math.ceil(K / BKT)}u;

${decls}

@compute @workgroup_size(${T})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let M = P.M;
  let m0 = wg.y * ${BM}u;
  let n0 = wg.x * ${BN}u;
  ${ids}${mkIds}
  ${rep(aLoads, (i) => `var ra${i}: vec4<f32>;`)}
  ${rep(bLoads, (i) => `var rb${i}: vec4<f32>;`)}
  ${rep(NACC, (j) => `var acc${j} = vec4<f32>(0.0);`)}

  ${fetch('0u')}
  ${stash('0u')}
  workgroupBarrier();

  for (var t = 0u; t < KTILES; t++) {
    let cur = t % 2u;
    let hasNext = t + 1u < KTILES;   // uniform: no barrier depends on non-uniform flow
    if (hasNext) {
      ${fetch('(t + 1u) * BK')}
    }
    let aBase = cur * ${aBuf}u;
    let bBase = cur * ${bVec}u;
${body}
    if (hasNext) {
      ${stash('(1u - cur)')}
    }
    workgroupBarrier();
  }

  // Epilogue: bias, activation, optional residual add, bounds-checked store.
${epilogueAll}
}
`;
  return {
    code,
    BM,
    BN,
    BK,
    threads: T,
    config: cfg,
    workgroupBytes,
    grid: (M: number) => [Math.ceil(N / BN), Math.ceil(M / BM)],
  };
}
