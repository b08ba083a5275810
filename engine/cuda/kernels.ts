/**
 * CUDA C source of every non-GEMM kernel of the forward pass, compiled at run time by NVRTC (no headers:
 * 16-bit conversions and tensor-core MMAs are inline PTX, so no CUDA include folder is needed).
 *
 * Activations between GEMMs are `act_t`: float (fp32/tf32) or 16-bit bits (bf16/fp16) in `unsigned short`.
 * The residual stream, LayerNorm statistics, softmax and every accumulation stay float32.
 */

export type ActType = 'f32' | 'bf16' | 'f16';

/**
 * Attention kernel: `mma16` (bf16/fp16 tensor cores), `tf32x3` (float32 activations on TF32 tensor cores with
 * split operands, float32-accurate), `tf32x3-qk` (split for QKᵀ only), `tf32` (one TF32 product), `simt`
 * (float32 CUDA cores).
 */
export type AttentionKind = 'mma16' | 'tf32x3' | 'tf32x3-qk' | 'tf32' | 'simt';

export interface KernelConfig {
  act: ActType;
  /** Head dimension: a multiple of 8 for the tensor-core attention (padded to 16 inside), any otherwise. */
  headDim: number;
  /** For float32 activations; default `chooseAttention`'s. */
  attention?: AttentionKind;
  /** Float32 activations that feed TF32 GEMMs: rounded to nearest TF32 where our kernels write them. */
  tf32?: boolean;
}

/**
 * The attention kernel for an activation type, head size, compute capability major (TF32 MMA needs 8+) and
 * precision: fp32 keeps float32 accuracy (split TF32 throughout); tf32 splits QKᵀ only, whose errors the softmax
 * exponentiates, and takes one TF32 product for PV (NOTES.md: ViT-B at batch 256, 5472 img/s of device time
 * against 4875 split throughout and 5974 unsplit).
 */
export function chooseAttention(act: ActType, headDim: number, ccMajor: number, tf32 = false): AttentionKind {
  if (act !== 'f32') return 'mma16';
  if (ccMajor < 8 || !tf32HeadFits(headDim)) return 'simt';
  return tf32 ? 'tf32x3-qk' : 'tf32x3';
}

/** Head sizes the TF32 kernels take: k-steps of 8, and K and V tiles of 64 rows x (HD + 4) floats in 48 KiB. */
const tf32HeadFits = (headDim: number): boolean => headDim % 8 === 0 && headDim <= 88;

/** Key-tile and query-tile sizes of the attention kernels (also used for launch geometry). */
export const ATTN_MMA_QTILE = 64; // 4 warps x 16 query rows
export const ATTN_MMA_KTILE = 64;
export const ATTN_SIMT_QTILE = 32; // one thread per query row
export const ATTN_SIMT_KTILE = 32;
export const LN_ROWS_PER_BLOCK = 4; // one warp per row

const common = String.raw`
typedef unsigned short u16;
typedef unsigned int u32;
__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ u16 f32_to_bf16(float f) { u16 r; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }
__device__ __forceinline__ float f16_to_f32(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f32_to_f16(float f) { u16 r; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }
// One key tile of a flash-style online softmax (base 2) for the 16 query rows of an MMA tile: rows g (s[.][0..1])
// and g+8 (s[.][2..3]), a row's values spread over one quad of lanes; s[n] holds keys key0 + n*8 (+1). Masks keys
// past N, updates the running max (m) and sum (l), rescales the output accumulators o, leaves exp values in s.
template <int NT, int OT>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[OT][4], float &m0, float &m1, float &l0, float &l1,
                                               int key0, int N, float scale_log2) {
  float mx0 = -1e30f, mx1 = -1e30f;
  #pragma unroll
  for (int n = 0; n < NT; n++) {
    #pragma unroll
    for (int j = 0; j < 2; j++) {
      bool live = key0 + n * 8 + j < N;
      s[n][j] = live ? s[n][j] * scale_log2 : -1e30f;
      s[n][2 + j] = live ? s[n][2 + j] * scale_log2 : -1e30f;
      mx0 = fmaxf(mx0, s[n][j]);
      mx1 = fmaxf(mx1, s[n][2 + j]);
    }
  }
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1)); mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1)); mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
  float nm0 = fmaxf(m0, mx0), nm1 = fmaxf(m1, mx1);
  float a0 = exp2f(m0 - nm0), a1 = exp2f(m1 - nm1);
  m0 = nm0; m1 = nm1;
  float rs0 = 0.f, rs1 = 0.f;
  #pragma unroll
  for (int n = 0; n < NT; n++) {
    s[n][0] = exp2f(s[n][0] - m0); s[n][1] = exp2f(s[n][1] - m0);
    s[n][2] = exp2f(s[n][2] - m1); s[n][3] = exp2f(s[n][3] - m1);
    rs0 += s[n][0] + s[n][1]; rs1 += s[n][2] + s[n][3];
  }
  l0 = l0 * a0 + rs0; l1 = l1 * a1 + rs1;
  #pragma unroll
  for (int i = 0; i < OT; i++) { o[i][0] *= a0; o[i][1] *= a0; o[i][2] *= a1; o[i][3] *= a1; }
}
// Two floats into one 32-bit register of 16-bit values: lo in the low half (the lower column index).
__device__ __forceinline__ u32 pack_bf16(float lo, float hi) { u32 r; asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r; }
__device__ __forceinline__ u32 pack_f16(float lo, float hi) { u32 r; asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r; }
`;

function actDefs(act: ActType, tf32: boolean): string {
  if (act === 'f32') {
    // tf32: every GEMM operand our kernels write is rounded to nearest TF32 here (the weights on upload), so the
    // tensor cores, which drop the low 13 bits of a float32 operand, see values that are already TF32.
    return String.raw`
#define ACT_F32 1
typedef float act_t;
__device__ __forceinline__ float ld_act(const act_t *p) { return *p; }
__device__ __forceinline__ act_t to_act(float f) { ${tf32 ? 'u32 r; asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f)); return __uint_as_float(r);' : 'return f;'} }
`;
  }
  const b = act === 'bf16';
  return String.raw`
typedef u16 act_t;
__device__ __forceinline__ float ld_act(const act_t *p) { return ${b ? 'bf16_to_f32' : 'f16_to_f32'}(*p); }
__device__ __forceinline__ act_t to_act(float f) { return ${b ? 'f32_to_bf16' : 'f32_to_f16'}(f); }
__device__ __forceinline__ u32 pack_act(float lo, float hi) { return ${b ? 'pack_bf16' : 'pack_f16'}(lo, hi); }
// D(16x8, f32) += A(16x16) * B(16x8), operands as packed 16-bit pairs (PTX fragment layouts).
__device__ __forceinline__ void mma16816(float *d, const u32 *a, const u32 *b) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.${b ? 'bf16.bf16' : 'f16.f16'}.f32 "
    "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// Four 8x8 16-bit tiles from shared memory, lane l giving the address of row l % 8 of tile l / 8 (16-byte aligned);
// TRANS: each tile transposed (a row-major [k][n] tile becomes an MMA B fragment).
template <bool TRANS>
__device__ __forceinline__ void ldsm_x4(u32 *r, const u16 *p) {
  u32 a = (u32)__cvta_generic_to_shared(p);
  if constexpr (TRANS) asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a) : "memory");
  else asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a) : "memory");
}
`;
}

const elementwise = String.raw`
// Patches as rows: out[(b*gh*gw + p), c*P*P + ky*P + kx] from pixels [B, C, H, W] (nn.Conv2d weight order).
extern "C" __global__ void im2col(const float *__restrict__ px, act_t *__restrict__ out, int B, int C, int H, int W, int P, int gh, int gw) {
  long long total = (long long)B * gh * gw * C * P * P;
  int Kp = C * P * P;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    int col = (int)(i % Kp); long long row = i / Kp;
    int p = (int)(row % (gh * gw)); int b = (int)(row / (gh * gw));
    int c = col / (P * P), r = col % (P * P), ky = r / P, kx = r % P;
    int y = (p / gw) * P + ky, x = (p % gw) * P + kx;
#ifdef ACT_F32
    out[i] = px[(((long long)b * C + c) * H + y) * W + x];  // float32 patch GEMM, in tf32 too
#else
    out[i] = to_act(px[(((long long)b * C + c) * H + y) * W + x]);
#endif
  }
}

// Token rows of the residual stream x [B, N, D] (float32): class token + pos[0], then patch rows + pos[1 + p].
// Token sequence: prefix tokens [prefix, D] (class, then distillation token), then the patches; plus pos.
extern "C" __global__ void embed(float *__restrict__ x, const float *__restrict__ patches, const float *__restrict__ prefix_tokens,
                                 const float *__restrict__ pos, int B, int N, int D, int prefix) {
  long long total = (long long)B * N * D;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    int d = (int)(i % D); long long bt = i / D; int t = (int)(bt % N); long long b = bt / N;
    float v = t < prefix ? prefix_tokens[(long long)t * D + d] : patches[(b * (N - prefix) + (t - prefix)) * D + d];
    x[i] = v + pos[(long long)t * D + d];
  }
}

// out[b, d] = mean of x[b, first .. first + count - 1, d] (x float32 [B, N, D]): mean pooling, distilled class token.
extern "C" __global__ void pool_tokens(const float *__restrict__ x, float *__restrict__ out, int B, int N, int D, int first, int count) {
  long long total = (long long)B * D;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    int d = (int)(i % D); long long b = i / D;
    float s = 0.f;
    for (int t = first; t < first + count; t++) s += x[(b * N + t) * D + d];
    out[i] = s / count;
  }
}

// float32 -> act_t (weights are converted once, on the device, at upload).
extern "C" __global__ void convert_f32(const float *__restrict__ src, act_t *__restrict__ dst, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) dst[i] = to_act(src[i]);
}

__device__ __forceinline__ float gelu_erf1(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_tanh1(float v) { return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }
// GELU in place, 16 bytes per thread (8 16-bit values or 4 floats; the buffer is cuMemAlloc-aligned), the tail one
// by one. tanh_form is a constant at each call: the branch folds away.
__device__ __forceinline__ void gelu_inplace(act_t *__restrict__ y, long long n, bool tanh_form) {
  const int V = 16 / sizeof(act_t);
  long long nv = n / V, stride = (long long)gridDim.x * blockDim.x, first = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  for (long long i = first; i < nv; i += stride) {
    uint4 w = ((const uint4 *)y)[i];
    act_t *e = (act_t *)&w;
#pragma unroll
    for (int j = 0; j < V; j++) { float v = ld_act(e + j); e[j] = to_act(tanh_form ? gelu_tanh1(v) : gelu_erf1(v)); }
    ((uint4 *)y)[i] = w;
  }
  for (long long i = nv * V + first; i < n; i += stride) { float v = ld_act(y + i); y[i] = to_act(tanh_form ? gelu_tanh1(v) : gelu_erf1(v)); }
}
// The exact erf form (nn.GELU()).
extern "C" __global__ void gelu_erf(act_t *__restrict__ y, long long n) { gelu_inplace(y, n, false); }
// The tanh approximation (hidden_act gelu_pytorch_tanh / gelu_new).
extern "C" __global__ void gelu_tanh(act_t *__restrict__ y, long long n) { gelu_inplace(y, n, true); }
`;

const layerNorm = String.raw`
// LayerNorm over D of rows of x (float32, row stride ld), one warp per row, two passes in float32.
// ToAct: the output is a GEMM operand (act_t through to_act); else plain float32 (the final norm before the head).
template <typename OutT, bool ToAct>
__device__ __forceinline__ void layer_norm_row(const float *__restrict__ xr, OutT *__restrict__ yr, const float *__restrict__ g,
                                               const float *__restrict__ b, int D, float eps) {
  int lane = threadIdx.x & 31;
  float s = 0.f;
  for (int i = lane; i < D; i += 32) s += xr[i];
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  float mean = s / D, v = 0.f;
  for (int i = lane; i < D; i += 32) { float d = xr[i] - mean; v += d * d; }
  for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  float rstd = rsqrtf(v / D + eps);
  for (int i = lane; i < D; i += 32) {
    float y = (xr[i] - mean) * rstd * g[i] + b[i];
    if constexpr (ToAct) yr[i] = to_act(y); else yr[i] = y;
  }
}

extern "C" __global__ void layer_norm(const float *__restrict__ x, act_t *__restrict__ y, const float *__restrict__ g,
                                      const float *__restrict__ b, int rows, int D, long long ldx, float eps) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row < rows) layer_norm_row<act_t, true>(x + row * ldx, y + (long long)row * D, g, b, D, eps);
}

// Final norm: float32 output (the head runs in float32).
extern "C" __global__ void layer_norm_f32(const float *__restrict__ x, float *__restrict__ y, const float *__restrict__ g,
                                          const float *__restrict__ b, int rows, int D, long long ldx, float eps) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row < rows) layer_norm_row<float, false>(x + row * ldx, y + (long long)row * D, g, b, D, eps);
}
`;

/** Flash-style attention on tensor cores (bf16/fp16): scores never leave registers. HD: a multiple of 8. */
const attentionMma = String.raw`
// qkv: [B*N, 3*D] act_t (q | k | v, head h at columns h*HD); out: [B*N, D] act_t. One block = 4 warps = 64 query rows
// of one (image, head); key/value tiles of 64 rows staged in shared memory; online softmax in float32.
// HDP: the head dim padded to the MMA's k of 16 (padding columns are zero).
#define QT 64
#define KT 64
#define HDP (((HD + 15) / 16) * 16)
#define KPAD (HDP + 8)
// MIN_BLOCKS per SM: a register budget ptxas meets with no spills (4 up to HD 64: left alone it spilled at HD 24).
extern "C" __global__ void __launch_bounds__(128, MIN_BLOCKS) attention(const act_t *__restrict__ qkv, act_t *__restrict__ out, int N, int D, int heads, float scale_log2) {
  __shared__ __align__(16) u16 Ks[KT * KPAD];
  __shared__ __align__(16) u16 Vs[KT * KPAD];
  int bh = blockIdx.y, b = bh / heads, h = bh % heads;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  int lm = lane >> 3, lr = lane & 7;  // ldmatrix: this lane addresses row lr of tile lm
  long long ld = 3LL * D;
  const act_t *base = qkv + (long long)b * N * ld + h * HD;
  int q0 = blockIdx.x * QT + warp * 16;
  // Q fragments (rows g, g+8 of this warp's 16), all HD/16 k-steps, straight from global memory.
  u32 qa[HDP / 16][4];
  #pragma unroll
  for (int ks = 0; ks < HDP / 16; ks++) {
    int r0 = q0 + g, r1 = q0 + g + 8, c = ks * 16 + 2 * t;
    bool c0 = c < HD, c1 = c + 8 < HD;
    qa[ks][0] = r0 < N && c0 ? *(const u32 *)(base + r0 * ld + c) : 0u;
    qa[ks][1] = r1 < N && c0 ? *(const u32 *)(base + r1 * ld + c) : 0u;
    qa[ks][2] = r0 < N && c1 ? *(const u32 *)(base + r0 * ld + c + 8) : 0u;
    qa[ks][3] = r1 < N && c1 ? *(const u32 *)(base + r1 * ld + c + 8) : 0u;
  }
  float o[HDP / 8][4];
  #pragma unroll
  for (int i = 0; i < HDP / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -1e30f, m1 = -1e30f, l0 = 0.f, l1 = 0.f;
  for (int k0 = 0; k0 < N; k0 += KT) {
    __syncthreads();
    // Stage K and V rows [k0, k0 + KT) in 16-byte pieces; rows past N are zero.
    for (int i = threadIdx.x; i < KT * (HDP / 8); i += blockDim.x) {
      int r = i / (HDP / 8), c = (i % (HDP / 8)) * 8;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (k0 + r < N && c < HD) {
        kv = *(const uint4 *)(base + (long long)(k0 + r) * ld + D + c);
        vv = *(const uint4 *)(base + (long long)(k0 + r) * ld + 2 * D + c);
      }
      *(uint4 *)(Ks + r * KPAD + c) = kv;
      *(uint4 *)(Vs + r * KPAD + c) = vv;
    }
    __syncthreads();
    if (q0 >= N) continue;  // a warp past the last query only helps stage K and V
    int live = N - k0;      // keys of this tile below N: 16-key steps wholly past them are skipped (p = 0 there)
    // S = Q K^T for this warp's 16 rows x KT keys; k-steps outermost so consecutive MMAs are independent.
    float s[KT / 8][4];
    #pragma unroll
    for (int n = 0; n < KT / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    // K rows are B's columns: tiles (keys n*8.., d ks*16), (n*8.., ks*16+8), then the same for n+1.
    #pragma unroll
    for (int ks = 0; ks < HDP / 16; ks++) {
      #pragma unroll
      for (int n = 0; n < KT / 8; n += 2) {
        if (n * 8 >= live) break;
        u32 bf[4];
        ldsm_x4<false>(bf, Ks + (n * 8 + (lm >> 1) * 8 + lr) * KPAD + ks * 16 + (lm & 1) * 8);
        mma16816(s[n], qa[ks], bf);
        mma16816(s[n + 1], qa[ks], bf + 2);
      }
    }
    online_softmax(s, o, m0, m1, l0, l1, k0 + 2 * t, N, scale_log2);
    // O += P V: P's accumulator layout is the A-fragment layout of the next MMA (two 8-key tiles per k-step).
    #pragma unroll
    for (int kk = 0; kk < KT / 16; kk++) {
      if (kk * 16 >= live) break;
      u32 pa[4];
      pa[0] = pack_act(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = pack_act(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = pack_act(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = pack_act(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      // V tiles transposed: (keys kk*16.., d n*8..), (kk*16+8.., n*8..), then the same for n+1.
      #pragma unroll
      for (int n = 0; n < HDP / 8; n += 2) {
        u32 bf[4];
        ldsm_x4<true>(bf, Vs + (kk * 16 + (lm & 1) * 8 + lr) * KPAD + (n + (lm >> 1)) * 8);
        mma16816(o[n], pa, bf);
        mma16816(o[n + 1], pa, bf + 2);
      }
    }
  }
  // Row sums live spread over the quad: reduce, normalise, store rows g and g+8.
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1); l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1); l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  float i0 = 1.f / l0, i1 = 1.f / l1;
  int r0 = q0 + g, r1 = q0 + g + 8;
  act_t *ob = out + (long long)b * N * D + h * HD;
  #pragma unroll
  for (int n = 0; n < HD / 8; n++) {
    int c = n * 8 + 2 * t;
    if (r0 < N) *(u32 *)(ob + (long long)r0 * D + c) = pack_act(o[n][0] * i0, o[n][1] * i0);
    if (r1 < N) *(u32 *)(ob + (long long)r1 * D + c) = pack_act(o[n][2] * i1, o[n][3] * i1);
  }
}
`;

/**
 * Flash-style attention for float32 activations on tensor cores: `mma.sync.m16n8k8` in TF32 with float32 accumulate.
 * A split product (3xTF32, CUTLASS's fast-fp32 path and PyTorch's float32 attention) takes each operand as
 * x = big + small, both TF32, and a·b ≈ big·big + big·small + small·big: float32-accurate. SPLIT_S and SPLIT_PV
 * choose it for QKᵀ and for PV; unsplit is one TF32 product. HD: a multiple of 8.
 */
const attentionTf32 = String.raw`
// Same blocking as the 16-bit kernel: 4 warps x 16 query rows of one (image, head), K/V tiles of 64 keys in shared
// memory, online softmax in float32 registers. The PV step reads P straight from the score accumulators: the
// accumulator holds columns (2t, 2t+1) where the A fragment wants (t, t+4), so the PV k-step takes keys in the
// order 0,2,4,6,1,3,5,7 (V rows 2t and 2t+1 for fragment rows t and t+4). Rows padded by 4 floats: conflict-free.
// Loops put independent accumulators next to each other (no chain of dependent MMAs).
#define QT 64
#define KT 64
#define KPAD (HD + 4)
__device__ __forceinline__ u32 to_tf32(float f) { u32 r; asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f)); return r; }
__device__ __forceinline__ void split_tf32(float f, u32 &big, u32 &small) {
  big = to_tf32(f);
  small = to_tf32(f - __uint_as_float(big));
}
__device__ __forceinline__ void mma1688(float *d, const u32 *a, const u32 *b) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
    : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// S += Q K^T over the first NT 8-key steps of the tile (B fragment: key n*8+g, dims t and t+4 of the k-step).
template <int NT>
__device__ __forceinline__ void scores(float (&s)[KT / 8][4], const u32 (&qb)[HD / 8][4], const u32 (&qs)[HD / 8][4], const float *Ks, int g, int t) {
  #pragma unroll
  for (int ks = 0; ks < HD / 8; ks++) {
    u32 kb[NT][2], ksm[NT][2];
    #pragma unroll
    for (int n = 0; n < NT; n++) {
      const float *kr = Ks + (n * 8 + g) * KPAD + ks * 8 + t;
      split_tf32(kr[0], kb[n][0], ksm[n][0]);
      split_tf32(kr[4], kb[n][1], ksm[n][1]);
    }
#if SPLIT_S
    #pragma unroll
    for (int n = 0; n < NT; n++) mma1688(s[n], qs[ks], kb[n]);
    #pragma unroll
    for (int n = 0; n < NT; n++) mma1688(s[n], qb[ks], ksm[n]);
#endif
    #pragma unroll
    for (int n = 0; n < NT; n++) mma1688(s[n], qb[ks], kb[n]);
  }
}
// MIN_BLOCKS per SM: a register budget ptxas meets with no spills (3 unsplit, and for the QKᵀ split up to HD 64; else 2).
extern "C" __global__ void __launch_bounds__(128, MIN_BLOCKS) attention(const float *__restrict__ qkv, float *__restrict__ out, int N, int D, int heads, float scale_log2) {
  __shared__ __align__(16) float Ks[KT * KPAD];
  __shared__ __align__(16) float Vs[KT * KPAD];
  int bh = blockIdx.y, b = bh / heads, h = bh % heads;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  long long ld = 3LL * D;
  const float *base = qkv + (long long)b * N * ld + h * HD;
  int q0 = blockIdx.x * QT + warp * 16;
  // Q fragments (rows g, g+8; columns t, t+4 of each 8-wide k-step), split once.
  u32 qb[HD / 8][4], qs[HD / 8][4];
  #pragma unroll
  for (int ks = 0; ks < HD / 8; ks++) {
    int r0 = q0 + g, r1 = q0 + g + 8, c = ks * 8 + t;
    split_tf32(r0 < N ? base[r0 * ld + c] : 0.f, qb[ks][0], qs[ks][0]);
    split_tf32(r1 < N ? base[r1 * ld + c] : 0.f, qb[ks][1], qs[ks][1]);
    split_tf32(r0 < N ? base[r0 * ld + c + 4] : 0.f, qb[ks][2], qs[ks][2]);
    split_tf32(r1 < N ? base[r1 * ld + c + 4] : 0.f, qb[ks][3], qs[ks][3]);
  }
  float o[HD / 8][4];
  #pragma unroll
  for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -1e30f, m1 = -1e30f, l0 = 0.f, l1 = 0.f;
  for (int k0 = 0; k0 < N; k0 += KT) {
    __syncthreads();
    // Stage K and V rows [k0, k0 + KT) in 16-byte pieces; rows past N are zero.
    for (int i = threadIdx.x; i < KT * (HD / 4); i += blockDim.x) {
      int r = i / (HD / 4), c = (i % (HD / 4)) * 4;
      float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
      if (k0 + r < N) {
        kv = *(const float4 *)(base + (long long)(k0 + r) * ld + D + c);
        vv = *(const float4 *)(base + (long long)(k0 + r) * ld + 2 * D + c);
      }
      *(float4 *)(Ks + r * KPAD + c) = kv;
      *(float4 *)(Vs + r * KPAD + c) = vv;
    }
    __syncthreads();
    if (q0 >= N) continue;  // a warp past the last query only helps stage K and V
    // The 8-key MMA steps that reach a key below N (past them p = 0): S and PV run only over those.
    int steps = min(KT / 8, (N - k0 + 7) / 8);
    // S = Q K^T for this warp's 16 rows x KT keys, over as many 8-key steps as the tile has live keys (2, 4 or all).
    float s[KT / 8][4];
    #pragma unroll
    for (int n = 0; n < KT / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    if (steps <= 2) scores<2>(s, qb, qs, Ks, g, t);
    else if (steps <= 4) scores<4>(s, qb, qs, Ks, g, t);
    else scores<KT / 8>(s, qb, qs, Ks, g, t);
    online_softmax(s, o, m0, m1, l0, l1, k0 + 2 * t, N, scale_log2);
    // O += P V, one 8-key k-step per score tile: A = (row g: keys 2t, 2t+1; row g+8: the same) in fragment order
    // (a0 row g col t, a1 row g+8 col t, a2 row g col t+4, a3 row g+8 col t+4).
    #pragma unroll
    for (int kk = 0; kk < KT / 8; kk++) {
      if (kk >= steps) break;
      u32 pb[4], ps[4];
      split_tf32(s[kk][0], pb[0], ps[0]);
      split_tf32(s[kk][2], pb[1], ps[1]);
      split_tf32(s[kk][1], pb[2], ps[2]);
      split_tf32(s[kk][3], pb[3], ps[3]);
      const float *vr = Vs + (kk * 8 + 2 * t) * KPAD + g;
      u32 vb[HD / 8][2], vsm[HD / 8][2];
      #pragma unroll
      for (int n = 0; n < HD / 8; n++) {
        split_tf32(vr[n * 8], vb[n][0], vsm[n][0]);
        split_tf32(vr[KPAD + n * 8], vb[n][1], vsm[n][1]);
      }
#if SPLIT_PV
      #pragma unroll
      for (int n = 0; n < HD / 8; n++) mma1688(o[n], ps, vb[n]);
      #pragma unroll
      for (int n = 0; n < HD / 8; n++) mma1688(o[n], pb, vsm[n]);
#endif
      #pragma unroll
      for (int n = 0; n < HD / 8; n++) mma1688(o[n], pb, vb[n]);
    }
  }
  // Row sums live spread over the quad: reduce, normalise, store rows g and g+8.
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1); l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1); l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  float i0 = 1.f / l0, i1 = 1.f / l1;
  int r0 = q0 + g, r1 = q0 + g + 8;
  float *ob = out + (long long)b * N * D + h * HD;
  #pragma unroll
  for (int n = 0; n < HD / 8; n++) {
    int c = n * 8 + 2 * t;
    if (r0 < N) *(float2 *)(ob + (long long)r0 * D + c) = make_float2(to_act(o[n][0] * i0), to_act(o[n][1] * i0));
    if (r1 < N) *(float2 *)(ob + (long long)r1 * D + c) = make_float2(to_act(o[n][2] * i1), to_act(o[n][3] * i1));
  }
}
`;

/** Flash-style attention in float32 on the SIMT cores (fp32 and tf32 precisions). */
const attentionSimt = String.raw`
// One thread per query row (QT rows of one (image, head) per block); K/V tiles of KT rows in shared memory;
// online softmax per key tile in float32.
#define QT 32
#define KT 32
extern "C" __global__ void __launch_bounds__(QT) attention(const float *__restrict__ qkv, float *__restrict__ out, int N, int D, int heads, float scale_log2) {
  __shared__ float Ks[KT][HD];
  __shared__ float Vs[KT][HD];
  int bh = blockIdx.y, b = bh / heads, h = bh % heads;
  long long ld = 3LL * D;
  const float *base = qkv + (long long)b * N * ld + h * HD;
  int q = blockIdx.x * QT + threadIdx.x;
  float qv[HD], o[HD];
  #pragma unroll
  for (int d = 0; d < HD; d++) { qv[d] = q < N ? base[(long long)q * ld + d] : 0.f; o[d] = 0.f; }
  float m = -1e30f, l = 0.f;
  for (int k0 = 0; k0 < N; k0 += KT) {
    __syncthreads();
    for (int i = threadIdx.x; i < KT * HD; i += QT) {
      int r = i / HD, c = i % HD;
      bool live = k0 + r < N;
      Ks[r][c] = live ? base[(long long)(k0 + r) * ld + D + c] : 0.f;
      Vs[r][c] = live ? base[(long long)(k0 + r) * ld + 2 * D + c] : 0.f;
    }
    __syncthreads();
    float s[KT];
    float mx = m;
    #pragma unroll
    for (int j = 0; j < KT; j++) {
      float acc = 0.f;
      #pragma unroll
      for (int d = 0; d < HD; d++) acc = fmaf(qv[d], Ks[j][d], acc);
      s[j] = k0 + j < N ? acc * scale_log2 : -1e30f;
      mx = fmaxf(mx, s[j]);
    }
    float alpha = exp2f(m - mx);
    m = mx;
    l *= alpha;
    #pragma unroll
    for (int d = 0; d < HD; d++) o[d] *= alpha;
    #pragma unroll
    for (int j = 0; j < KT; j++) {
      float p = exp2f(s[j] - m);
      l += p;
      #pragma unroll
      for (int d = 0; d < HD; d++) o[d] = fmaf(p, Vs[j][d], o[d]);
    }
  }
  if (q < N) {
    float inv = 1.f / l;
    float *orow = out + ((long long)b * N + q) * D + h * HD;
    #pragma unroll
    for (int d = 0; d < HD; d++) orow[d] = to_act(o[d] * inv);
  }
}
`;

/** The whole program for one activation type, head size and attention kernel. */
export function kernelSource(cfg: KernelConfig): string {
  const kind = cfg.attention ?? chooseAttention(cfg.act, cfg.headDim, 8, cfg.tf32);
  const mma = cfg.act !== 'f32';
  if ((mma && cfg.headDim % 8 !== 0) || cfg.headDim > 256 || cfg.headDim < 1) throw new Error(`engine/cuda: head dim ${cfg.headDim} is not supported`);
  if (mma !== (kind === 'mma16')) throw new Error(`engine/cuda: attention ${kind} does not take ${cfg.act} activations`);
  if (cfg.tf32 && cfg.act !== 'f32') throw new Error(`engine/cuda: TF32 rounding needs float32 activations, not ${cfg.act}`);
  const tf32Kernel = kind.startsWith('tf32');
  if (tf32Kernel && !tf32HeadFits(cfg.headDim)) throw new Error(`engine/cuda: TF32 attention needs a head dim that is a multiple of 8, at most 88 (got ${cfg.headDim})`);
  const attention = !tf32Kernel
    ? kind === 'mma16' ? `#define MIN_BLOCKS ${cfg.headDim <= 64 ? 4 : 1}\n${attentionMma}` : attentionSimt
    : `#define SPLIT_S ${kind === 'tf32' ? 0 : 1}\n#define SPLIT_PV ${kind === 'tf32x3' ? 1 : 0}\n#define MIN_BLOCKS ${kind === 'tf32' || (kind === 'tf32x3-qk' && cfg.headDim <= 64) ? 3 : 2}\n${attentionTf32}`;
  return [`#define HD ${cfg.headDim}`, common, actDefs(cfg.act, cfg.tf32 ?? false), elementwise, layerNorm, attention].join('\n');
}

/** Threads per block and query rows per block of an attention kernel. */
export function attentionGeometry(kind: AttentionKind): { block: number; queries: number } {
  return kind === 'simt' ? { block: ATTN_SIMT_QTILE, queries: ATTN_SIMT_QTILE } : { block: 128, queries: ATTN_MMA_QTILE };
}

/** Names of the kernels every program exports. */
export const KERNEL_NAMES = ['im2col', 'embed', 'gelu_erf', 'gelu_tanh', 'convert_f32', 'layer_norm', 'layer_norm_f32', 'attention', 'pool_tokens'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];
