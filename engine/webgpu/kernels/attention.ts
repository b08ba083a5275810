/**
 * Fused multi-head attention, flash style: softmax(q k^T * hd^-0.5) v without writing scores.
 *
 * Input qkv is [B*N, 3D] (the qkv GEMM output: column s*D + h*hd + d for s in q,k,v), output is
 * [B*N, D] with column h*hd + d (heads concatenated, as timm/HF reshape them). One workgroup of BQ
 * threads per (query tile, head, image), one thread per query: the thread keeps its scaled q and its
 * output accumulator (hd/4 vec4 each) in registers. K and V are staged through workgroup memory
 * BKV keys at a time; per tile the thread computes BKV scores, then an online-softmax update
 * (running max m, running sum l, accumulator rescaled by exp(m_old - m_new)). Keys past N are
 * masked with a large negative score (no infinities: WGSL need not support them); queries past N
 * take part in loads and barriers but store nothing. Everything per-key is unrolled into named
 * registers by the generator, so nothing spills to private arrays.
 */

export interface AttentionKernel {
  code: string;
  threads: number;
  grid(batch: number): [number, number, number];
}

const NEG = '-3.0e38';

/** `io` f16: qkv read and output written as f16; scores, softmax statistics and sums stay f32. */
export function attentionKernel(N: number, D: number, heads: number, opts: { BQ?: number; BKV?: number; io?: 'f32' | 'f16' } = {}): AttentionKernel {
  const IO = opts.io ?? 'f32';
  const widen = (e: string) => (IO === 'f16' ? `vec4<f32>(${e})` : e);
  const HD = D / heads;
  if (!Number.isInteger(HD) || HD % 4) throw new Error(`engine/webgpu/kernels/attention.ts: head dim ${D}/${heads} must be a multiple of 4`);
  const BQ = opts.BQ ?? 32;
  const BKV = opts.BKV ?? 16;
  const HD4 = HD / 4;
  const D4 = D / 4;
  const tileVec = BKV * HD4; // vec4 per K (or V) tile
  const loads = Math.ceil(tileVec / BQ);
  const rep = (n: number, f: (i: number) => string, sep = '\n  ') => Array.from({ length: n }, (_, i) => f(i)).join(sep);
  const scale = 1 / Math.sqrt(HD);

  const code = /* wgsl */ `${IO === 'f16' ? 'enable f16;' : ''}
@group(0) @binding(0) var<storage, read> QKV: array<vec4<${IO}>>;
@group(0) @binding(1) var<storage, read_write> O: array<vec4<${IO}>>;

const N = ${N}u;
const ROW4 = ${3 * D4}u;     // vec4 per qkv row
var<workgroup> Ks: array<vec4<f32>, ${tileVec}>;
var<workgroup> Vs: array<vec4<f32>, ${tileVec}>;

@compute @workgroup_size(${BQ})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let h = wg.y;
  let b = wg.z;
  let qi = wg.x * ${BQ}u + tid;
  let valid = qi < N;
  let rowBase = b * N;          // first token row of this image
  let qOff = ${0}u + h * ${HD4}u;
  let kOff = ${D4}u + h * ${HD4}u;
  let vOff = ${2 * D4}u + h * ${HD4}u;

  // q pre-scaled by hd^-0.5 (the same product the reference forms, up to rounding order).
  ${rep(HD4, (i) => `var q${i} = vec4<f32>(0.0);`)}
  if (valid) {
    let qb = (rowBase + qi) * ROW4 + qOff;
    ${rep(HD4, (i) => `q${i} = ${widen(`QKV[qb + ${i}u]`)} * ${scale};`, '\n    ')}
  }
  ${rep(HD4, (i) => `var o${i} = vec4<f32>(0.0);`)}
  var m = ${NEG};
  var l = 0.0;

  for (var j0 = 0u; j0 < N; j0 += ${BKV}u) {
    // Stage keys j0 .. j0+BKV-1 (zeros past N).
    ${rep(loads, (i) => `{
    let e = tid + ${i * BQ}u;
    if (e < ${tileVec}u) {
      let kv = j0 + e / ${HD4}u;
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (kv < N) {
        let rb = (rowBase + kv) * ROW4 + e % ${HD4}u;
        kx = ${widen('QKV[rb + kOff]')};
        vx = ${widen('QKV[rb + vOff]')};
      }
      Ks[e] = kx;
      Vs[e] = vx;
    }
  }`)}
    workgroupBarrier();

    let kvn = min(${BKV}u, N - j0);   // valid keys in this tile
    ${rep(BKV, (j) => `var s${j} = ${NEG};\n    if (${j}u < kvn) { s${j} = ${rep(HD4, (i) => `dot(q${i}, Ks[${j * HD4 + i}u])`, ' + ')}; }`, '\n    ')}
    let mt = ${rep(BKV - 1, (j) => `max(s${j}, `, '')}s${BKV - 1}${')'.repeat(BKV - 1)};
    let mNew = max(m, mt);
    let corr = exp(m - mNew);
    ${rep(BKV, (j) => `let p${j} = exp(s${j} - mNew);`, '\n    ')}
    l = l * corr + ${rep(BKV, (j) => `p${j}`, ' + ')};
    m = mNew;
    ${rep(HD4, (i) => `o${i} = o${i} * corr${rep(BKV, (j) => ` + p${j} * Vs[${j * HD4 + i}u]`, '')};`, '\n    ')}
    workgroupBarrier();   // all reads of this tile done before the next one is staged
  }

  if (valid) {
    let inv = 1.0 / l;
    let ob = (rowBase + qi) * ${D4}u + h * ${HD4}u;
    ${rep(HD4, (i) => `O[ob + ${i}u] = ${IO === 'f16' ? `vec4<f16>(o${i} * inv)` : `o${i} * inv`};`, '\n    ')}
  }
}
`;
  return { code, threads: BQ, grid: (batch: number) => [Math.ceil(N / BQ), heads, batch] };
}
