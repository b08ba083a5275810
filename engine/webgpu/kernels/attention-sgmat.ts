/**
 * Fused multi-head attention on subgroup matrices (f16 inputs, f32 accumulation), for fp16 plans where the
 * adapter has f16 -> f32 16x16x16 subgroup matrices. Same buffers as attention.ts: qkv [B*N, 3D] f16 in,
 * [B*N, D] f16 out (heads concatenated).
 *
 * Subgroup matrices are opaque: no per-row scaling of an accumulator. Two forms work around it.
 *
 * `online` (one pass, flash style): O stays in result matrices across the keys. Per staged chunk of CH keys each
 * subgroup computes S^T = K Q^T on the matrices (K row-major as staged, Q^T loaded once), stores it to its
 * scratch, and the lanes of each query row take P = exp(S - m) (f16, into workgroup memory) against a reference
 * max m that moves only when the chunk's max passes it by more than 2^8 (so P <= 256): O needs rescaling only
 * then, through the scratch, and the workgroup takes that branch together (one flag per subgroup, read with
 * workgroupUniformLoad). Then O += P V on the matrices. Three barriers per chunk plus the flag's two.
 *
 * `two-pass`:
 *   1. S = Q K^T per 16x16 block on the matrices, through a per-subgroup scratch; the lanes keep each query
 *      row's running max and sum of exponentials (f32);
 *   2. S again, P = exp(S * scale - max) / sum rounded to f16 (as flash attention's fp16 P), O += P V on the
 *      matrices, with no rescaling since P is final.
 * QK^T runs twice (it is a third of the attention's products); nothing but 16x16 tiles crosses shared memory.
 * (A one-pass form, each subgroup's full score rows in workgroup memory, ran at half the speed: NOTES.md "f16".)
 *
 * Both: one workgroup of W subgroups, each owning 16 queries of one (image, head); K and V staged CH keys at a
 * time (rows padded by 8 halves), zeros past N; every matrix load row-major; keys past N weigh exactly 0. The
 * online form stages K as it is and maps lane to (query row lane % 16, key and column share lane / 16); the
 * two-pass form stages K transposed and maps lanes to score rows as row = lane / (SG/16), 256/SG columns each.
 */

export interface AttentionSgmatOptions {
  /** Subgroups per workgroup (16 queries each). */
  W?: number;
  /** Keys staged per step; multiple of 16. */
  CH?: number;
  /** Subgroup size (32 on NVIDIA); 16, 32 or 64. */
  SG?: number;
  form?: AttentionSgmatForm;
}

export type AttentionSgmatForm = 'online' | 'two-pass';

/** A fixed shape of the kernel (what a plan and the kernel cache key on). */
export type AttentionSgmatShape = { W: number; CH: number; SG: number; form: AttentionSgmatForm };

export interface AttentionSgmatKernel {
  code: string;
  threads: number;
  workgroupBytes: number;
  grid(batch: number): [number, number, number];
}

const NEG = '-3.0e38';
/** How far (log2 units) a row's scores may pass its reference max before O is rescaled: P <= 2^8 in f16. */
const LAZY = '8.0';
const ERR = 'engine/webgpu/kernels/attention-sgmat.ts';

/** Whether the head dimension suits the 16x16x16 matrices. */
export const attentionSgmatFits = (D: number, heads: number): boolean => Number.isInteger(D / heads) && (D / heads) % 16 === 0;

export function attentionSgmatKernel(N: number, D: number, heads: number, opts: AttentionSgmatOptions = {}): AttentionSgmatKernel {
  const W = opts.W ?? 4;
  const CH = opts.CH ?? 64;
  const SG = opts.SG ?? 32;
  if (!attentionSgmatFits(D, heads)) throw new Error(`${ERR}: head dim ${D}/${heads} must be a multiple of 16`);
  if (CH % 16 || CH < 16) throw new Error(`${ERR}: CH ${CH} must be a positive multiple of 16`);
  if (![16, 32, 64].includes(SG)) throw new Error(`${ERR}: subgroup size ${SG} is not handled (16, 32 or 64)`);
  return (opts.form ?? 'online') === 'online' ? onlineKernel(N, D, heads, W, CH, SG) : twoPassKernel(N, D, heads, W, CH, SG);
}

const rep = (n: number, f: (i: number) => string, sep = '\n') => Array.from({ length: n }, (_, i) => f(i)).join(sep);
const L = 'subgroup_matrix_left<f16, 16, 16>';
const R = 'subgroup_matrix_right<f16, 16, 16>';
const S = 'subgroup_matrix_result<f32, 16, 16>';
const HEADER = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;

@group(0) @binding(0) var<storage, read> QKV: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read_write> O: array<vec4<f16>>;
`;
const MAIN = `@compute @workgroup_size(T)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let h = wg.y;
  let rowBase = wg.z * N;`;

/** Combines a per-lane value over the `lanes` lanes of one row, `stride` apart (shuffles xor stride, 2 stride, ..). */
const overRow = (v: string, lanes: number, stride: number, op: (a: string, b: string) => string, indent = '    ') =>
  rep(Math.log2(lanes), (i) => `${indent}${v} = ${op(v, `subgroupShuffleXor(${v}, ${stride << i}u)`)};`);

function onlineKernel(N: number, D: number, heads: number, W: number, CH: number, SG: number): AttentionSgmatKernel {
  const HD = D / heads;
  const HC = HD / 16;
  const HD4 = HD / 4;
  const D4 = D / 4;
  const T = W * SG;
  const LPR = SG / 16; // lanes per query row: lane = part * 16 + row
  const KPL = CH / LPR; // keys of a chunk per lane: part, part + LPR, ..
  const CPL = 16 / LPR; // columns of a 16x16 block per lane (rescale and output)
  const KSTR = HD + 8; // K and V rows as staged
  const PSTR = CH + 8; // P: row query, column key
  const HSZ = Math.ceil(Math.max(HD * 16, 16 * PSTR) / 8) * 8; // f16 per subgroup: Q^T (row d, column query), then P
  const SSZ = Math.max(CH * 16, 256); // f32 per subgroup: S^T, or one 16x16 block of O
  const NCH = Math.ceil(N / CH);
  const KB = CH / 16;
  const NB = Math.ceil(N / 16);
  const scale2 = Math.LOG2E / Math.sqrt(HD); // scores in log2 units: exp2 below
  const workgroupBytes = 2 * (2 * CH * KSTR + W * HSZ) + 4 * W * SSZ + 4 * W;
  // Block c of O through this subgroup's scratch: store, barrier, `lanes` on this lane's columns i (step `step`)
  // of its row at Ss[s], barrier, and load back if `reload`.
  const throughScratch = (c: number, step: number, lanes: string, reload: boolean) => `      subgroupMatrixStore<row_major>(&Ss, sb, o${c}, 16u);
      workgroupBarrier();
      for (var i = 0u; i < ${CPL}u; i += ${step}u) {
        let s = sb + row * 16u + part * ${CPL}u + i;
        ${lanes}
      }
      workgroupBarrier();${reload ? `
      o${c} = subgroupMatrixLoad<${S}, row_major>(&Ss, sb, 16u);
      workgroupBarrier();` : ''}`;
  const code = /* wgsl */ `${HEADER}
const N = ${N}u;
const T = ${T}u;
const ROW4 = ${3 * D4}u;
var<workgroup> Ks: array<f16, ${CH * KSTR}>;
var<workgroup> Vs: array<f16, ${CH * KSTR}>;
var<workgroup> Hs: array<f16, ${W * HSZ}>;
var<workgroup> Ss: array<f32, ${W * SSZ}>;
var<workgroup> grew: array<u32, ${W}>;   // per subgroup: some row's reference max moved this chunk

${MAIN}
  let qw = wg.x * ${W * 16}u;             // first query of the workgroup
  let row = lane % 16u;                   // this lane's query: qw + sg * 16 + row
  let part = lane / 16u;                  // and its share of that row's keys and columns
  let hb = sg * ${HSZ}u;
  let sb = sg * ${SSZ}u;
  // Q^T of every subgroup's 16 queries, each into its own part of Hs.
  for (var e = tid; e < ${W * 16 * HD4}u; e += T) {
    let r = e / ${HD4}u;
    let c = (e % ${HD4}u) * 4u;
    var v = vec4<f16>(0.0h);
    if (qw + r < N) { v = QKV[(rowBase + qw + r) * ROW4 + h * ${HD4}u + c / 4u]; }
    let o = (r / 16u) * ${HSZ}u + c * 16u + r % 16u;
    Hs[o] = v.x; Hs[o + 16u] = v.y; Hs[o + 32u] = v.z; Hs[o + 48u] = v.w;
  }
  workgroupBarrier();
${rep(HC, (c) => `  let qt${c} = subgroupMatrixLoad<${R}, row_major>(&Hs, hb + ${c * 256}u, 16u);`)}
${rep(HC, (c) => `  var o${c} = ${S}();`)}
  var m = ${NEG};   // this row's reference max (log2 units): P = exp2(s - m) <= 2^LAZY
  var l = 0.0;
  for (var ch = 0u; ch < ${NCH}u; ch++) {
    let k0 = ch * ${CH}u;
    workgroupBarrier();
    for (var e = tid; e < ${CH * HD4}u; e += T) {
      let r = e / ${HD4}u;
      let c = (e % ${HD4}u) * 4u;
      var kv = vec4<f16>(0.0h);
      var vv = vec4<f16>(0.0h);
      if (k0 + r < N) {
        let g = (rowBase + k0 + r) * ROW4 + h * ${HD4}u + c / 4u;
        kv = QKV[g + ${D4}u];
        vv = QKV[g + ${2 * D4}u];
      }
      let o = r * ${KSTR}u + c;
      Ks[o] = kv.x; Ks[o + 1u] = kv.y; Ks[o + 2u] = kv.z; Ks[o + 3u] = kv.w;
      Vs[o] = vv.x; Vs[o + 1u] = vv.y; Vs[o + 2u] = vv.z; Vs[o + 3u] = vv.w;
    }
    workgroupBarrier();
    // S^T = K Q^T, 16 keys at a time, into the scratch: key k of the chunk, query r at k * 16 + r.
    for (var kb = 0u; kb < ${KB}u; kb++) {
      if (k0 + kb * 16u >= N) { break; }
      var s = ${S}();
${rep(HC, (c) => `      s = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<${L}, row_major>(&Ks, kb * ${16 * KSTR}u + ${c * 16}u, ${KSTR}u), qt${c}, s);`)}
      subgroupMatrixStore<row_major>(&Ss, sb + kb * 256u, s, 16u);
    }
    workgroupBarrier();
    // This lane's keys of its row. The reference max moves only when the chunk's max passes it by more than
    // LAZY (and on the first chunk), so O is rescaled rarely.
${rep(KPL, (j) => `    var x${j} = ${NEG};
    if (k0 + ${j * LPR}u + part < N) { x${j} = Ss[sb + (${j * LPR}u + part) * 16u + row] * ${scale2}; }`)}
    var mt = x0;
${rep(KPL - 1, (j) => `    mt = max(mt, x${j + 1});`)}
${overRow('mt', LPR, 16, (a, b) => `max(${a}, ${b})`)}
    let mNew = select(m, mt, mt > m + ${LAZY});
    let alpha = exp2(m - mNew);
    var sum = 0.0;
${rep(KPL, (j) => `    { let p = exp2(x${j} - mNew); sum += p; Hs[hb + row * ${PSTR}u + ${j * LPR}u + part] = f16(p); }`)}
    l = l * alpha + sum;
    m = mNew;
    let moved = subgroupAny(alpha < 1.0);
    if (lane == 0u) { grew[sg] = select(0u, 1u, moved && ch > 0u); }
    let g = workgroupUniformLoad(&grew);   // a barrier: P is visible too
    if (${rep(W, (w) => `g[${w}]`, ' + ')} > 0u) {
      // Rescale O's rows by alpha (1 where the reference did not move), one 16x16 block at a time.
${rep(HC, (c) => throughScratch(c, 1, 'Ss[s] = Ss[s] * alpha;', true))}
    }
    // O += P V for this chunk (zeros past N in both).
    for (var kb = 0u; kb < ${KB}u; kb++) {
      if (k0 + kb * 16u >= N) { break; }
      let p = subgroupMatrixLoad<${L}, row_major>(&Hs, hb + kb * 16u, ${PSTR}u);
${rep(HC, (c) => `      o${c} = subgroupMatrixMultiplyAccumulate(p, subgroupMatrixLoad<${R}, row_major>(&Vs, kb * ${16 * KSTR}u + ${c * 16}u, ${KSTR}u), o${c});`)}
    }
  }
${overRow('l', LPR, 16, (a, b) => `${a} + ${b}`, '  ')}
  let inv = 1.0 / l;
  let q = qw + sg * 16u + row;
  workgroupBarrier();
  {
${rep(HC, (c) => throughScratch(c, 4, `if (q < N) { O[(rowBase + q) * ${D4}u + h * ${HD4}u + ${c * 4}u + (part * ${CPL}u + i) / 4u] = vec4<f16>(vec4<f32>(Ss[s], Ss[s + 1u], Ss[s + 2u], Ss[s + 3u]) * inv); }`, false))}
  }
}
`;
  return { code, threads: T, workgroupBytes, grid: (batch: number) => [Math.ceil(NB / W), heads, batch] };
}

function twoPassKernel(N: number, D: number, heads: number, W: number, CH: number, SG: number): AttentionSgmatKernel {
  const HD = D / heads;
  const HC = HD / 16; // 16-wide chunks of the head dimension
  const HD4 = HD / 4;
  const D4 = D / 4;
  const T = W * SG;
  const E = 256 / SG; // score elements per lane
  const LPR = SG / 16; // lanes per score row
  const QSTR = HD + 8;
  const KSTR = HD + 8; // V rows
  const KTSTR = CH + 8; // K staged transposed: row d, column key
  const PSTR = 16 + 8;
  const NB = Math.ceil(N / 16); // query blocks per (image, head)
  const NCH = Math.ceil(N / CH);
  const KB = CH / 16;
  const scale = 1 / Math.sqrt(HD);
  const workgroupBytes = 2 * (W * 16 * QSTR + HD * KTSTR + CH * KSTR + W * 16 * PSTR) + 4 * W * 256;

  // Stage rows [r0, r0 + rows) of part `off` (vec4 offset of q, k or v for this head) into `dst` with row stride `str`.
  const stage = (dst: string, str: number, rows: number, r0: string, off: string) => `
  for (var e = tid; e < ${rows * HD4}u; e += ${T}u) {
    let r = e / ${HD4}u;
    let c = (e % ${HD4}u) * 4u;
    let tok = ${r0} + r;
    var v = vec4<f16>(0.0h);
    if (tok < N) { v = QKV[(rowBase + tok) * ROW4 + ${off} + c / 4u]; }
    let o = r * ${str}u + c;
    ${dst}[o] = v.x; ${dst}[o + 1u] = v.y; ${dst}[o + 2u] = v.z; ${dst}[o + 3u] = v.w;
  }`;

  // K rows [k0, k0 + CH) transposed into Kt (zeros past N).
  const stageKt = `
  for (var e = tid; e < ${CH * HD4}u; e += ${T}u) {
    let r = e / ${HD4}u;
    let c = (e % ${HD4}u) * 4u;
    let tok = ch * ${CH}u + r;
    var v = vec4<f16>(0.0h);
    if (tok < N) { v = QKV[(rowBase + tok) * ROW4 + ${D4}u + h * ${HD4}u + c / 4u]; }
    Kt[c * ${KTSTR}u + r] = v.x; Kt[(c + 1u) * ${KTSTR}u + r] = v.y; Kt[(c + 2u) * ${KTSTR}u + r] = v.z; Kt[(c + 3u) * ${KTSTR}u + r] = v.w;
  }`;

  // S = Q K^T for key block kb of the staged chunk, into this subgroup's scratch, then a barrier. (Every
  // matrix is zero-initialised explicitly and loaded row-major.)
  const scores = `
      var s = ${S}();
${rep(HC, (c) => `      s = subgroupMatrixMultiplyAccumulate(q${c}, subgroupMatrixLoad<${R}, row_major>(&Kt, ${c * 16 * KTSTR}u + kb * 16u, ${KTSTR}u), s);`)}
      subgroupMatrixStore<row_major>(&Ss, sg * 256u, s, 16u);
      workgroupBarrier();`;

  // Every 16-key block of every staged chunk: `staging` fills the chunk's buffers, `body` runs per block (k0, kb).
  const overKeys = (staging: string, body: string) => `  for (var ch = 0u; ch < ${NCH}u; ch++) {
    workgroupBarrier();
    ${staging}
    workgroupBarrier();
    for (var kb = 0u; kb < ${KB}u; kb++) {
      let k0 = ch * ${CH}u + kb * 16u;
      if (k0 >= N) { break; }
${body}
    }
  }`;
  const stageV = stage('Vs', KSTR, CH, `ch * ${CH}u`, `${2 * D4}u + h * ${HD4}u`);

  const twoPassBody = `  // Pass 1: running max and sum of exp per query row (the lanes of a row share them after each block).
  var m = ${NEG};
  var l = 0.0;
${overKeys(stageKt, `${scores}
      var mt = ${NEG};
      var x: array<f32, ${E}>;
      for (var j = 0u; j < ${E}u; j++) {
        x[j] = ${NEG};
        if (k0 + col0 + j < N) { x[j] = Ss[sg * 256u + row * 16u + col0 + j] * ${scale}; }
        mt = max(mt, x[j]);
      }
${overRow('mt', LPR, 1, (a, b) => `max(${a}, ${b})`)}
      let mNew = max(m, mt);
      var sum = 0.0;
      for (var j = 0u; j < ${E}u; j++) { sum += exp(x[j] - mNew); }
      l = l * exp(m - mNew) + sum;
      m = mNew;
      workgroupBarrier();`)}
${overRow('l', LPR, 1, (a, b) => `${a} + ${b}`)}
  let inv = 1.0 / l;

  // Pass 2: O = P V with P final.
${rep(HC, (c) => `  var o${c} = ${S}();`)}
${overKeys(`${stageKt}
    ${stageV}`, `${scores}
      for (var j = 0u; j < ${E}u; j++) {
        var p = 0.0;
        if (k0 + col0 + j < N) { p = exp(Ss[sg * 256u + row * 16u + col0 + j] * ${scale} - m) * inv; }
        Ps[sg * ${16 * PSTR}u + row * ${PSTR}u + col0 + j] = f16(p);
      }
      workgroupBarrier();
      let p = subgroupMatrixLoad<${L}, row_major>(&Ps, sg * ${16 * PSTR}u, ${PSTR}u);
${rep(HC, (c) => `      o${c} = subgroupMatrixMultiplyAccumulate(p, subgroupMatrixLoad<${R}, row_major>(&Vs, kb * ${16 * KSTR}u + ${c * 16}u, ${KSTR}u), o${c});`)}`)}

`;
  const code = /* wgsl */ `${HEADER}
const N = ${N}u;
const T = ${T}u;
const ROW4 = ${3 * D4}u;
var<workgroup> Qs: array<f16, ${W * 16 * QSTR}>;
var<workgroup> Kt: array<f16, ${HD * KTSTR}>;
var<workgroup> Vs: array<f16, ${CH * KSTR}>;
var<workgroup> Ps: array<f16, ${W * 16 * PSTR}>;
var<workgroup> Ss: array<f32, ${W * 256}>;

${MAIN}
  let qw = wg.x * ${W * 16}u;             // first query of the workgroup
  let row = lane / ${LPR}u;               // this lane's score row (query qw + sg * 16 + row)
  let col0 = (lane % ${LPR}u) * ${E}u;    // and its first column in a 16-key block
  ${stage('Qs', QSTR, W * 16, 'qw', `h * ${HD4}u`)}
  workgroupBarrier();
${rep(HC, (c) => `  let q${c} = subgroupMatrixLoad<${L}, row_major>(&Qs, sg * ${16 * QSTR}u + ${c * 16}u, ${QSTR}u);`)}

${twoPassBody}  // Out: each 16x16 block of O through the scratch; the lanes of a row write its E columns (f16).
  let q = qw + sg * 16u + row;
${rep(HC, (c) => `  workgroupBarrier();
  subgroupMatrixStore<row_major>(&Ss, sg * 256u, o${c}, 16u);
  workgroupBarrier();
  if (q < N) {
    for (var j = 0u; j < ${E / 4}u; j++) {
      let s = sg * 256u + row * 16u + col0 + j * 4u;
      O[(rowBase + q) * ${D4}u + h * ${HD4}u + ${c * 4}u + (col0 + j * 4u) / 4u] = vec4<f16>(vec4<f32>(Ss[s], Ss[s + 1u], Ss[s + 2u], Ss[s + 3u]));
    }
  }`)}
}
`;
  return { code, threads: T, workgroupBytes, grid: (batch: number) => [Math.ceil(NB / W), heads, batch] };
}
