/**
 * The ViT forward pass on @tensorflow/tfjs-core: one definition for every tfjs backend (wasm, cpu,
 * tensorflow). Pre-norm blocks as timm's `VisionTransformer` / HF's `ViTLayer` compute them.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { ViTConfig } from '../../model/config.js';
import { modelShapes, type ModelOutput } from '../../model/shapes.js';
import type { Linear, Tensor, ViTWeights } from '../../model/weights.js';

type TF = typeof tfc;

/**
 * Weights as backend tensors, made once per session. With `transposed`, linear weights are transposed once
 * to [in, out]: tfjs-wasm runs x·W through XNNPACK (~40 GFLOP/s on one core here) but x·Wᵀ through a generic
 * loop (~3.5). Without it they stay [out, in] and, on the cpu backend, alias the shared weight memory.
 */
export interface TfWeights {
  transposed: boolean;
  clsToken: tfc.Tensor3D; // [1, 1, D]
  /** Distilled DeiT: [1, 1, D]. */
  distToken?: tfc.Tensor3D;
  posEmbed: tfc.Tensor3D; // [1, N, D]
  patchFilter: tfc.Tensor4D; // [P, P, C, D] (conv2d NHWC filter layout)
  patchBias: tfc.Tensor1D;
  blocks: {
    norm1: [tfc.Tensor1D, tfc.Tensor1D];
    /** Stacked q/k/v [D, 3D] or [3D, D]; absent where headsQKV replaces it. */
    qkv?: [tfc.Tensor2D, tfc.Tensor1D];
    projW: tfc.Tensor2D;
    projB: tfc.Tensor1D;
    norm2: [tfc.Tensor1D, tfc.Tensor1D];
    fc1W: tfc.Tensor2D;
    fc1B: tfc.Tensor1D;
    fc2W: tfc.Tensor2D;
    fc2B: tfc.Tensor1D;
    /** wasm only: q, k, v weights split per head, [D, hd] each, so each head is one 2-D matmul. */
    headsQKV?: [tfc.Tensor2D, tfc.Tensor1D][][];
  }[];
  norm: [tfc.Tensor1D, tfc.Tensor1D];
  head?: [tfc.Tensor2D, tfc.Tensor1D];
  headDist?: [tfc.Tensor2D, tfc.Tensor1D];
}

export function uploadWeights(tf: TF, c: ViTConfig, w: ViTWeights, transposed: boolean): TfWeights {
  // tidy keeps only the returned tensors: the pre-reshape / pre-transpose copies are released.
  const tensors = tf.tidy(() => uploadAll(tf, c, w, transposed) as unknown as tfc.TensorContainer) as unknown as Omit<TfWeights, 'transposed'>;
  return { transposed, ...tensors };
}

function uploadAll(tf: TF, c: ViTConfig, w: ViTWeights, transposed: boolean): Omit<TfWeights, 'transposed'> {
  const t = (x: Tensor) => tf.tensor(x.data, x.shape, 'float32');
  const t1 = (x: Tensor) => t(x) as tfc.Tensor1D;
  // Transposed on the JS side through one scratch buffer (tf.tensor copies it into the backend at once), so
  // neither the backend's memory nor the JS heap ever holds a second copy of the weights.
  let scratch = new Float32Array(0);
  const t2 = (x: Tensor) => {
    if (!transposed) return t(x) as tfc.Tensor2D;
    const [o, i] = x.shape as [number, number];
    if (scratch.length < o * i) scratch = new Float32Array(o * i);
    const out = scratch.subarray(0, o * i);
    for (let r = 0; r < o; r++) for (let c2 = 0; c2 < i; c2++) out[c2 * o + r] = x.data[r * i + c2]!;
    return tf.tensor2d(out, [i, o]);
  };
  const bias = (l: Linear) => (l.bias ? t1(l.bias) : tf.zeros([l.weight.shape[0]!]) as tfc.Tensor1D);
  const lin = (l: Linear): [tfc.Tensor2D, tfc.Tensor1D] => [t2(l.weight), bias(l)];
  const norm = (n: { weight: Tensor; bias: Tensor }): [tfc.Tensor1D, tfc.Tensor1D] => [t1(n.weight), t1(n.bias)];
  // Per-head q/k/v matrices [D, hd] (transposed) and biases [hd], cut from the stacked [3D, D] qkv weight.
  const { D, heads, headDim: hd } = modelShapes(c);
  const headsQKV = (qkv: Linear) => {
    const W = qkv.weight.data;
    const b = qkv.bias?.data ?? new Float32Array(3 * D);
    return [0, 1, 2].map((part) =>
      Array.from({ length: heads }, (_, h) => {
        const out = new Float32Array(D * hd);
        const row0 = part * D + h * hd;
        for (let r = 0; r < hd; r++) for (let k = 0; k < D; k++) out[k * hd + r] = W[(row0 + r) * D + k]!;
        return [tf.tensor2d(out, [D, hd]), tf.tensor1d(b.slice(row0, row0 + hd))] as [tfc.Tensor2D, tfc.Tensor1D];
      }),
    );
  };
  const patchFilter = tf.transpose(t(w.patchEmbed.weight), [2, 3, 1, 0]) as tfc.Tensor4D; // [D,C,P,P] -> [P,P,C,D]
  return {
    clsToken: tf.reshape(t(w.cls), [1, 1, D]),
    distToken: w.dist ? tf.reshape(t(w.dist), [1, 1, D]) : undefined,
    posEmbed: tf.reshape(t(w.pos), [1, -1, D]),
    patchFilter,
    patchBias: bias(w.patchEmbed),
    blocks: w.blocks.map((b) => {
      const [projW, projB] = lin(b.proj);
      const [fc1W, fc1B] = lin(b.fc1);
      const [fc2W, fc2B] = lin(b.fc2);
      return {
        norm1: norm(b.norm1),
        qkv: transposed ? undefined : lin(b.qkv),
        projW,
        projB,
        norm2: norm(b.norm2),
        fc1W,
        fc1B,
        fc2W,
        fc2B,
        headsQKV: transposed ? headsQKV(b.qkv) : undefined,
      };
    }),
    norm: norm(w.norm),
    head: w.head ? lin(w.head) : undefined,
    headDist: w.headDist ? lin(w.headDist) : undefined,
  };
}

export function disposeWeights(tf: TF, w: TfWeights): void {
  const all: tfc.Tensor[] = [w.clsToken, w.posEmbed, w.patchFilter, w.patchBias, ...w.norm, ...(w.head ?? []), ...(w.distToken ? [w.distToken] : []), ...(w.headDist ?? [])];
  for (const b of w.blocks) {
    all.push(...b.norm1, ...(b.qkv ?? []), b.projW, b.projB, ...b.norm2, b.fc1W, b.fc1B, b.fc2W, b.fc2B);
    for (const part of b.headsQKV ?? []) for (const [hw, hb] of part) all.push(hw, hb);
  }
  tf.dispose(all);
}

/** LayerNorm over the last axis: biased variance, two passes, as torch.nn.LayerNorm. */
function layerNorm(tf: TF, x: tfc.Tensor2D, [g, b]: [tfc.Tensor1D, tfc.Tensor1D], eps: number): tfc.Tensor2D {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b) as tfc.Tensor2D;
}

/** x Wᵀ + b, W stored [in, out] (transposed) or PyTorch's [out, in]. */
function linear(tf: TF, x: tfc.Tensor2D, [w, b, transposed]: [tfc.Tensor2D, tfc.Tensor1D, boolean]): tfc.Tensor2D {
  return tf.add(tf.matMul(x, w, false, !transposed), b);
}

function gelu(tf: TF, x: tfc.Tensor2D, kind: ViTConfig['hiddenAct']): tfc.Tensor2D {
  if (kind === 'gelu') return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as tfc.Tensor2D;
  // tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as tfc.Tensor2D;
}

/** Batched multi-head attention from the fused qkv activations [B·N, 3D] (features [3][heads][hd]) to [B·N, D]. */
function attentionBatched(tf: TF, qkv: tfc.Tensor2D, B: number, N: number, heads: number, hd: number): tfc.Tensor2D {
  const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [B, N, 3, heads, hd]), [2, 0, 3, 1, 4])).map((t) => tf.reshape(t, [B * heads, N, hd]) as tfc.Tensor3D);
  const a = tf.matMul(tf.softmax(tf.matMul(tf.mul(q!, 1 / Math.sqrt(hd)), k!, false, true)), v!);
  return tf.reshape(tf.transpose(tf.reshape(a, [B, heads, N, hd]), [0, 2, 1, 3]), [B * N, heads * hd]);
}

/**
 * Per-head attention for one image (x: [N, D]): each head's q, k, v is its own 2-D matmul against per-head
 * weights, which tfjs-wasm runs through XNNPACK. Its batched matmul, rank-5 transpose, unstack and strided
 * slice kernels are generic loops: at batch 8 on DeiT-tiny they took 170 of 197 ms per image.
 */
function attentionPerHead(tf: TF, x: tfc.Tensor2D, heads: [tfc.Tensor2D, tfc.Tensor1D][][], hd: number): tfc.Tensor2D {
  const [qs, ks, vs] = heads as [[tfc.Tensor2D, tfc.Tensor1D][], [tfc.Tensor2D, tfc.Tensor1D][], [tfc.Tensor2D, tfc.Tensor1D][]];
  const proj = ([w, b]: [tfc.Tensor2D, tfc.Tensor1D]) => tf.add(tf.matMul(x, w), b) as tfc.Tensor2D;
  const outs = qs.map((q, h) => {
    const scores = tf.matMul(tf.mul(proj(q), 1 / Math.sqrt(hd)), tf.transpose(proj(ks[h]!)));
    return tf.matMul(tf.softmax(scores), proj(vs[h]!));
  });
  return tf.concat(outs, 1) as tfc.Tensor2D;
}

/**
 * pixels [B, C, H, W] -> logits [B, K], or features [B, D] (see ModelOutput; also 'logits' without a head).
 * Call inside tf.tidy (the blocks tidy their own intermediates as they go).
 */
export function forward(tf: TF, c: ViTConfig, w: TfWeights, pixels: tfc.Tensor4D, output: ModelOutput = 'logits'): tfc.Tensor2D {
  const [B, , H, W] = pixels.shape;
  if (w.blocks[0]?.headsQKV && B !== 1) throw new Error('per-head (wasm) weights run one image at a time');
  const { D, heads, headDim: hd, P, N, prefix } = modelShapes(c, [H!, W!]);

  // Patch embedding: a stride-P convolution, NHWC, giving patches in row-major grid order.
  const nhwc = tf.transpose(pixels, [0, 2, 3, 1]);
  const patches = tf.reshape(tf.add(tf.conv2d(nhwc as tfc.Tensor4D, w.patchFilter, P, 'valid'), w.patchBias), [B, N - prefix, D]);
  const prefixTokens = [w.clsToken, ...(w.distToken ? [w.distToken] : [])].map((t) => tf.tile(t, [B, 1, 1]));
  let x: tfc.Tensor2D = tf.tidy(() => tf.reshape(tf.add(tf.concat([...prefixTokens, patches], 1), w.posEmbed), [B * N, D]));

  for (const blk of w.blocks) {
    // One tidy per block: only this block's intermediates are alive at once. (A single tidy over the whole
    // pass held every block's activations until the end: ~650 MB of wasm heap for DeiT-tiny at batch 4.)
    const prev = x;
    x = tf.tidy(() => {
      const h = layerNorm(tf, prev, blk.norm1, c.layerNormEps);
      const o = blk.headsQKV
        ? attentionPerHead(tf, h, blk.headsQKV, hd)
        : attentionBatched(tf, linear(tf, h, [...blk.qkv!, w.transposed]), B, N, heads, hd);
      const y = tf.add(prev, linear(tf, o, [blk.projW, blk.projB, w.transposed])) as tfc.Tensor2D;
      // MLP
      const h2 = layerNorm(tf, y, blk.norm2, c.layerNormEps);
      return tf.add(y, linear(tf, gelu(tf, linear(tf, h2, [blk.fc1W, blk.fc1B, w.transposed]), c.hiddenAct), [blk.fc2W, blk.fc2B, w.transposed])) as tfc.Tensor2D;
    });
    prev.dispose();
  }
  // Final norm, then the tokens the output asks for.
  const tokens = tf.reshape(x, [B, N, D]);
  const normed = (from: number, count: number) => tf.reshape(layerNorm(tf, tf.reshape(tf.slice(tokens, [0, from, 0], [B, count, D]), [B * count, D]), w.norm, c.layerNormEps), [B, count, D]);
  if (output === 'mean') return tf.mean(normed(prefix, N - prefix), 1) as tfc.Tensor2D;
  if (output === 'cls' || !w.head) return tf.mean(normed(0, prefix), 1) as tfc.Tensor2D;
  const cls = tf.reshape(normed(0, 1), [B, D]) as tfc.Tensor2D;
  const logits = linear(tf, cls, [w.head[0], w.head[1], w.transposed]);
  if (!w.headDist) return logits;
  const dist = tf.reshape(normed(1, 1), [B, D]) as tfc.Tensor2D;
  return tf.mul(tf.add(logits, linear(tf, dist, [w.headDist[0], w.headDist[1], w.transposed])), 0.5) as tfc.Tensor2D;
}
