/**
 * Fused multi-head attention on subgroup matrices (f16 inputs, f32 accumulation), for fp16 plans where the
 * adapter has f16 -> f32 16x16x16 subgroup matrices. Same buffers as attention.ts: qkv [B*N, 3D] f16 in,
 * [B*N, D] f16 out (heads concatenated).
 *
 * Subgroup matrices are opaque: no per-row scaling of an accumulator, so the online softmax of the SIMT kernel
 * (rescale the output at each new maximum) does not map onto them. Two passes over the keys instead:
 *   1. S = Q K^T per 16x16 block on the matrices, through a per-subgroup scratch; the lanes keep each query
 *      row's running max and sum of exponentials (f32);
 *   2. S again, P = exp(S * scale - max) / sum rounded to f16 (as flash attention's fp16 P), O += P V on the
 *      matrices, with no rescaling since P is final.
 * QK^T runs twice (it is a third of the attention's products); nothing but 16x16 tiles crosses shared memory.
 * (A one-pass form, each subgroup's full score rows in workgroup memory, ran at half the speed: NOTES.md "f16".)
 *
 * One workgroup: W subgroups, each owning 16 queries of one (image, head); K (transposed) and V are staged CH keys
 * at a time (rows padded by 8 halves), zeros past N; every matrix load is row-major. Keys past N get a score of -3e38 (pass 1) and p = 0 (pass 2).
 * Lanes map to score rows as row = lane / (SG/16), 256/SG columns each.
 */

export interface AttentionSgmatOptions {
  /** Subgroups per workgroup (16 queries each). */
  W?: number;
  /** Keys staged per step; multiple of 16. */
  CH?: number;
  /** Subgroup size (32 on NVIDIA); 16, 32 or 64. */
  SG?: number;
}

/** A fixed shape of the kernel (what a plan and the kernel cache key on). */
export type AttentionSgmatShape = { W: number; CH: number; SG: number };

export interface AttentionSgmatKernel {
  code: string;
  threads: number;
  workgroupBytes: number;
  grid(batch: number): [number, number, number];
}

const NEG = '-3.0e38';
const ERR = 'engine/webgpu/kernels/attention-sgmat.ts';

/** Whether the head dimension suits the 16x16x16 matrices. */
export const attentionSgmatFits = (D: number, heads: number): boolean => Number.isInteger(D / heads) && (D / heads) % 16 === 0;

export function attentionSgmatKernel(N: number, D: number, heads: number, opts: AttentionSgmatOptions = {}): AttentionSgmatKernel {
  const W = opts.W ?? 4;
  const CH = opts.CH ?? 64;
  const SG = opts.SG ?? 32;
  const HD = D / heads;
  if (!attentionSgmatFits(D, heads)) throw new Error(`${ERR}: head dim ${D}/${heads} must be a multiple of 16`);
  if (CH % 16 || CH < 16) throw new Error(`${ERR}: CH ${CH} must be a positive multiple of 16`);
  if (![16, 32, 64].includes(SG)) throw new Error(`${ERR}: subgroup size ${SG} is not handled (16, 32 or 64)`);
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
  const rep = (n: number, f: (i: number) => string, sep = '\n') => Array.from({ length: n }, (_, i) => f(i)).join(sep);
  // Combine a per-lane value over the LPR lanes of its row.
  const reduce = (v: string, op: (a: string, b: string) => string) => rep(Math.log2(LPR), (i) => `    ${v} = ${op(v, `subgroupShuffleXor(${v}, ${1 << i}u)`)};`);
  const L = 'subgroup_matrix_left<f16, 16, 16>';
  const R = 'subgroup_matrix_right<f16, 16, 16>';
  const S = 'subgroup_matrix_result<f32, 16, 16>';

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
${reduce('mt', (a, b) => `max(${a}, ${b})`)}
      let mNew = max(m, mt);
      var sum = 0.0;
      for (var j = 0u; j < ${E}u; j++) { sum += exp(x[j] - mNew); }
      l = l * exp(m - mNew) + sum;
      m = mNew;
      workgroupBarrier();`)}
${reduce('l', (a, b) => `${a} + ${b}`)}
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
  const code = /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;

@group(0) @binding(0) var<storage, read> QKV: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read_write> O: array<vec4<f16>>;

const N = ${N}u;
const ROW4 = ${3 * D4}u;
var<workgroup> Qs: array<f16, ${W * 16 * QSTR}>;
var<workgroup> Kt: array<f16, ${HD * KTSTR}>;
var<workgroup> Vs: array<f16, ${CH * KSTR}>;
var<workgroup> Ps: array<f16, ${W * 16 * PSTR}>;
var<workgroup> Ss: array<f32, ${W * 256}>;

@compute @workgroup_size(${T})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let h = wg.y;
  let rowBase = wg.z * N;
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
