/**
 * The ONNX graph of a ViT, built in memory from the model definition and its loaded weights (position
 * embedding already at the config's imageSize), serialised as ModelProto bytes with the weights as raw_data
 * initializers. Input `pixel_values` float32 [batch, C, H, W]; output `logits` [batch, outputWidth(config, output)]:
 * logits, or the 'cls' / 'mean' features of model/shapes.ts (distilled DeiT: two prefix tokens, the average of
 * its two heads, or the mean of the normed class and distillation tokens as 'cls').
 *
 * Two layouts:
 * - 'fused': the form onnxruntime's transformer optimizer gives a ViT: com.microsoft Attention (qkv GEMM +
 *   softmax attention in one op), SkipLayerNormalization (residual add + bias + LayerNorm), BiasGelu /
 *   FastGelu. What the onnx backend runs.
 * - 'plain': standard ai.onnx ops only, laid out as torch.onnx exports timm's ViT (MatMul + Add, split
 *   heads with Reshape/Transpose, MatMul-Softmax-MatMul, GELU as the Div-Erf-Add-Mul-Mul pattern);
 *   onnxruntime fuses what it recognises at session creation. The peer benchmark's baseline.
 *
 * precision 'int8' (fused only): every transformer-block GEMM as com.microsoft DynamicQuantizeMatMul with
 * weights quantised per output column, symmetric int8, and activations quantised per tensor at run time
 * (uint8); patch embedding and head stay fp32.
 */
import { endianness } from 'node:os';
import { modelShapes, outputWidth, type ModelOutput } from '../../model/shapes.js';
import type { LayerNormW, Linear, Tensor, ViTModel } from '../../model/weights.js';
import { Message, type Payload } from './proto.js';

export type GraphStyle = 'fused' | 'plain';
export type OnnxPrecision = 'fp32' | 'int8';

export interface GraphOptions {
  style?: GraphStyle;
  precision?: OnnxPrecision;
  /** fused fp32: com.microsoft Attention on the normed tokens (default), or qkv MatMul + MultiHeadAttention. */
  attention?: 'Attention' | 'MultiHeadAttention';
  /** What the graph returns (default 'logits'). */
  output?: ModelOutput;
}

export const INPUT_NAME = 'pixel_values';
export const OUTPUT_NAME = 'logits';
const OPSET = 17; // LayerNormalization
const IR_VERSION = 8;

const enum DType {
  FLOAT = 1,
  INT8 = 3,
  INT64 = 7,
}
const enum Attr {
  FLOAT = 1,
  INT = 2,
  INTS = 7,
}

type AttrValue = { f: number } | { i: number } | { ints: number[] };

/** Collects nodes and initializers; names are unique by construction (a counter suffix). */
class GraphBuilder {
  readonly nodes: Message[] = [];
  readonly initializers: Message[] = [];
  private n = 0;

  /** Add a node; returns its output names (`outputs` gives how many, '' for skipped optional outputs). */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1, domain = ''): string[] {
    const id = this.n++;
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => `${op}_${id}_${k}`) : outputs;
    const node = new Message();
    for (const i of inputs) node.string(1, i);
    for (const o of outs) node.string(2, o);
    node.string(3, `${op}_${id}`).string(4, op);
    for (const [name, v] of Object.entries(attrs)) {
      const a = new Message().string(1, name);
      if ('f' in v) a.float(2, v.f).varint(20, Attr.FLOAT);
      else if ('i' in v) a.varint(3, v.i).varint(20, Attr.INT);
      else a.packed(8, v.ints).varint(20, Attr.INTS);
      node.msg(5, a);
    }
    if (domain) node.string(7, domain);
    this.nodes.push(node);
    return outs;
  }
  /** One-output node. */
  op1(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.op(op, inputs, attrs, 1, domain)[0]!;
  }

  init(name: string, dims: number[], type: DType, payload: Payload): string {
    const t = new Message().packed(1, dims).varint(2, type).string(8, name).bytes(9, payload);
    this.initializers.push(t);
    return name;
  }
  f32(name: string, data: Float32Array, dims: number[]): string {
    return this.init(name, dims, DType.FLOAT, bytesOf(data));
  }
  /** PyTorch [out, in] as [in, out], the MatMul right-hand side. */
  f32T(name: string, w: Tensor): string {
    const [out, inp] = [w.shape[0]!, w.data.length / w.shape[0]!];
    return this.init(name, [inp, out], DType.FLOAT, lazyBytes(out * inp * 4, () => transpose(w.data, out, inp)));
  }
  i64(name: string, values: number[], dims = [values.length]): string {
    return this.init(name, dims, DType.INT64, bytesOf(BigInt64Array.from(values.map(BigInt))));
  }
  scalar(name: string, v: number): string {
    return this.f32(name, Float32Array.of(v), []);
  }
}

function bytesOf(a: Float32Array | BigInt64Array | Int8Array): Payload {
  if (endianness() !== 'LE') throw new Error('onnx: raw_data is little-endian; this host is big-endian');
  const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return { length: u8.length, write: (dst, at) => dst.set(u8, at) };
}

/** A payload computed only when the model bytes are written (transposes and quantisation are transient). */
function lazyBytes(length: number, make: () => Float32Array | Int8Array): Payload {
  return { length, write: (dst, at) => bytesOf(make()).write(dst, at) };
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
  return t;
}

/** Per-output-column symmetric int8: W [out, in] -> B [in, out] int8 and scales [out]. */
export function quantizeColumns(w: Tensor): { q: Int8Array; scale: Float32Array } {
  const [out, inp] = [w.shape[0]!, w.data.length / w.shape[0]!];
  const scale = new Float32Array(out);
  const q = new Int8Array(out * inp);
  for (let o = 0; o < out; o++) {
    let m = 0;
    for (let k = 0; k < inp; k++) m = Math.max(m, Math.abs(w.data[o * inp + k]!));
    const s = m > 0 ? m / 127 : 1;
    scale[o] = s;
    for (let k = 0; k < inp; k++) q[k * out + o] = Math.max(-127, Math.min(127, Math.round(w.data[o * inp + k]! / s)));
  }
  return { q, scale };
}

/** The ModelProto bytes for a model, ready for InferenceSession.create(bytes). */
export function buildOnnxModel(model: ViTModel, opts: GraphOptions = {}): Uint8Array {
  const style = opts.style ?? 'fused';
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && style !== 'fused') throw new Error(`onnx: precision ${precision} needs the fused graph`);
  const c = model.config;
  const w = model.weights;
  const output = opts.output ?? 'logits';
  const { D, P, C, heads, N, prefix } = modelShapes(c);
  const out = outputWidth(c, output);
  const [H, W] = c.imageSize;
  const g = new GraphBuilder();
  const eps = { f: c.layerNormEps };

  // Patch embedding as a strided Conv, then [B, D, gh, gw] -> [B, np, D]; prefix tokens (class, distillation); position embedding.
  const pe = g.op1('Conv', [INPUT_NAME, g.f32('patchEmbed.weight', w.patchEmbed.weight.data, w.patchEmbed.weight.shape), g.f32('patchEmbed.bias', w.patchEmbed.bias!.data, [D])], {
    kernel_shape: { ints: [P, P] },
    strides: { ints: [P, P] },
  });
  const tokens = g.op1('Transpose', [g.op1('Reshape', [pe, g.i64('shape_b_d_np', [0, D, N - prefix])])], { perm: { ints: [0, 2, 1] } });
  const batch = g.op1('Slice', [g.op1('Shape', [INPUT_NAME]), g.i64('zero_1', [0]), g.i64('one_1', [1])]);
  const clsShape = g.op1('Concat', [batch, g.i64('shape_prefix_d', [prefix, D])], { axis: { i: 0 } });
  const prefixTokens = w.dist ? concat(w.cls.data, w.dist.data) : w.cls.data;
  const cls = g.op1('Expand', [g.f32(w.dist ? 'cls+dist' : 'cls', prefixTokens, [1, prefix, D]), clsShape]);
  const x0 = g.op1('Add', [g.op1('Concat', [cls, tokens], { axis: { i: 1 } }), g.f32('pos', w.pos.data, [1, N, D])]);

  const ln = (x: string, n: LayerNormW, name: string) =>
    g.op1('LayerNormalization', [x, g.f32(`${name}.weight`, n.weight.data, [D]), g.f32(`${name}.bias`, n.bias.data, [D])], { axis: { i: -1 }, epsilon: eps });
  const bias = (l: Linear, name: string) => g.f32(`${name}.bias`, l.bias ? l.bias.data : new Float32Array(l.weight.shape[0]!), [l.weight.shape[0]!]);
  const matmul = (x: string, l: Linear, name: string) => g.op1('MatMul', [x, g.f32T(`${name}.weight`, l.weight)]);
  const linear = (x: string, l: Linear, name: string) => g.op1('Add', [matmul(x, l, name), bias(l, name)]);
  /** fused-style GEMM without its bias (the consumer adds it): fp32 MatMul or int8 DynamicQuantizeMatMul. */
  const gemm = (x: string, l: Linear, name: string, withBias = false): string => {
    if (precision === 'fp32') return withBias ? linear(x, l, name) : matmul(x, l, name);
    const { q, scale } = quantizeColumns(l.weight);
    const [o, k] = [l.weight.shape[0]!, q.length / l.weight.shape[0]!];
    const b = g.init(`${name}.weight_int8`, [k, o], DType.INT8, bytesOf(q));
    const s = g.f32(`${name}.weight_scale`, scale, [o]);
    return g.op1('DynamicQuantizeMatMul', withBias ? [x, b, s, '', bias(l, name)] : [x, b, s], {}, 'com.microsoft');
  };
  const gelu = (x: string, b?: string): string => {
    if (style === 'fused') {
      if (c.hiddenAct === 'gelu') return g.op1('BiasGelu', [x, b!], {}, 'com.microsoft');
      return g.op1('FastGelu', [x, b!], {}, 'com.microsoft');
    }
    if (c.hiddenAct === 'gelu') {
      const e = g.op1('Erf', [g.op1('Div', [x, g.scalar(`sqrt2_${x}`, Math.SQRT2)])]);
      return g.op1('Mul', [g.op1('Mul', [x, g.op1('Add', [e, g.scalar(`one_${x}`, 1)])]), g.scalar(`half_${x}`, 0.5)]);
    }
    const cube = g.op1('Mul', [g.op1('Mul', [x, x]), x]);
    const inner = g.op1('Mul', [g.op1('Add', [x, g.op1('Mul', [cube, g.scalar(`c_${x}`, 0.044715)])]), g.scalar(`k_${x}`, Math.sqrt(2 / Math.PI))]);
    return g.op1('Mul', [g.op1('Mul', [x, g.op1('Add', [g.op1('Tanh', [inner]), g.scalar(`one_${x}`, 1)])]), g.scalar(`half_${x}`, 0.5)]);
  };
  const hd = D / heads;
  // Constants made on first use: onnxruntime warns about unused initializers.
  const once = (make: () => string) => {
    let name: string | undefined;
    return () => (name ??= make());
  };
  const headsShape = once(() => g.i64('shape_b_n_h_hd', [0, 0, heads, hd]));
  const mergeShape = once(() => g.i64('shape_b_n_d', [0, 0, D]));
  const qkvSplit = once(() => g.i64('split_qkv', [D, D, D]));

  // The final-norm rows the output reads: `classRow` is the normed class token (the plain graph normalises only
  // that row when nothing else is read), `normed` every normed token.
  let classRow: () => string;
  let normed: () => string;
  if (style === 'plain') {
    let x = x0;
    w.blocks.forEach((blk, i) => {
      const p = `blocks.${i}`;
      const qkv = linear(ln(x, blk.norm1, `${p}.norm1`), blk.qkv, `${p}.qkv`);
      const [q, k, v] = g.op('Split', [qkv, qkvSplit()], { axis: { i: -1 } }, 3) as [string, string, string];
      const split = (t: string, perm: number[]) => g.op1('Transpose', [g.op1('Reshape', [t, headsShape()])], { perm: { ints: perm } });
      const scores = g.op1('Mul', [g.op1('MatMul', [split(q, [0, 2, 1, 3]), split(k, [0, 2, 3, 1])]), g.scalar(`${p}.scale`, 1 / Math.sqrt(hd))]);
      const ctx = g.op1('MatMul', [g.op1('Softmax', [scores], { axis: { i: -1 } }), split(v, [0, 2, 1, 3])]);
      const merged = g.op1('Reshape', [g.op1('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), mergeShape()]);
      x = g.op1('Add', [x, linear(merged, blk.proj, `${p}.proj`)]);
      const h = linear(ln(x, blk.norm2, `${p}.norm2`), blk.fc1, `${p}.fc1`);
      x = g.op1('Add', [x, linear(gelu(h), blk.fc2, `${p}.fc2`)]);
    });
    const final = x;
    normed = once(() => ln(final, w.norm, 'norm'));
    classRow = prefix === 1 && output !== 'mean' ? once(() => ln(row(final, 0), w.norm, 'norm')) : () => row(normed(), 0);
  } else {
    // Residual stream x; h is the LayerNorm of x for the next consumer (SkipLayerNormalization gives both).
    let x = x0;
    let h = ln(x0, w.blocks[0]!.norm1, 'blocks.0.norm1');
    const skipLn = (branch: string, residual: string, n: LayerNormW, name: string, b: string) => {
      const [normed, , , sum] = g.op(
        'SkipLayerNormalization',
        [branch, residual, g.f32(`${name}.weight`, n.weight.data, [D]), g.f32(`${name}.bias`, n.bias.data, [D]), b],
        { epsilon: eps },
        [`${name}_out`, '', '', `${name}_sum`],
        'com.microsoft',
      );
      return [normed!, sum!] as const;
    };
    w.blocks.forEach((blk, i) => {
      const p = `blocks.${i}`;
      let attn: string;
      if (precision === 'fp32' && (opts.attention ?? 'Attention') === 'Attention') {
        attn = g.op1('Attention', [h, g.f32T(`${p}.qkv.weight`, blk.qkv.weight), bias(blk.qkv, `${p}.qkv`)], { num_heads: { i: heads } }, 'com.microsoft');
      } else {
        const [q, k, v] = g.op('Split', [gemm(h, blk.qkv, `${p}.qkv`, true), qkvSplit()], { axis: { i: -1 } }, 3) as [string, string, string];
        attn = g.op1('MultiHeadAttention', [q, k, v], { num_heads: { i: heads } }, 'com.microsoft');
      }
      [h, x] = skipLn(gemm(attn, blk.proj, `${p}.proj`), x, blk.norm2, `${p}.norm2`, bias(blk.proj, `${p}.proj`));
      const act = gelu(gemm(h, blk.fc1, `${p}.fc1`), bias(blk.fc1, `${p}.fc1`));
      const last = i === w.blocks.length - 1;
      // After the last block the final norm takes the place of the next block's norm1.
      const next = last ? w.norm : w.blocks[i + 1]!.norm1;
      [h, x] = skipLn(gemm(act, blk.fc2, `${p}.fc2`), x, next, last ? 'norm' : `blocks.${i + 1}.norm1`, bias(blk.fc2, `${p}.fc2`));
    });
    const final = h;
    normed = () => final;
    classRow = () => row(final, 0);
  }
  /** Token row t of [B, N, D] as [B, D]. */
  const indices = new Map<number, string>();
  function row(t3: string, t: number): string {
    if (!indices.has(t)) indices.set(t, g.i64(`index_${t}`, [t], []));
    return g.op1('Gather', [t3, indices.get(t)!], { axis: { i: 1 } });
  }
  /** Mean of token rows first .. first+count-1 as [B, D]. */
  const meanRows = (first: number, count: number) =>
    g.op1('ReduceMean', [g.op1('Slice', [normed(), g.i64(`start_${first}`, [first]), g.i64(`end_${first + count}`, [first + count]), g.i64('axis_1', [1])])], {
      axes: { ints: [1] },
      keepdims: { i: 0 },
    });
  let result: string;
  if (output === 'mean') result = meanRows(prefix, N - prefix);
  else if (output === 'cls' || !w.head) result = prefix === 1 ? classRow() : meanRows(0, prefix);
  else if (!w.headDist) result = linear(classRow(), w.head, 'head');
  else {
    // Distilled DeiT: the average of head(class token) and head_dist(distillation token).
    const both = g.op1('Add', [linear(classRow(), w.head, 'head'), linear(row(normed(), 1), w.headDist, 'head_dist')]);
    result = g.op1('Mul', [both, g.scalar('half', 0.5)]);
  }
  // Rename the last value to the graph output through Identity (onnxruntime removes it).
  g.op('Identity', [result], {}, [OUTPUT_NAME]);

  const graph = new Message();
  for (const n of g.nodes) graph.msg(1, n);
  graph.string(2, `vit_${style}_${precision}`);
  for (const t of g.initializers) graph.msg(5, t);
  graph.msg(11, valueInfo(INPUT_NAME, ['batch', C, H, W]));
  graph.msg(12, valueInfo(OUTPUT_NAME, ['batch', out]));

  const modelProto = new Message()
    .varint(1, IR_VERSION)
    .string(2, 'vit-engine')
    .string(3, '0.1.0')
    .msg(7, graph)
    .msg(8, new Message().string(1, '').varint(2, OPSET))
    .msg(8, new Message().string(1, 'com.microsoft').varint(2, 1));
  return modelProto.encode();
}

function valueInfo(name: string, dims: (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Message().varint(1, d) : new Message().string(2, d));
  const tensorType = new Message().varint(1, DType.FLOAT).msg(2, shape);
  return new Message().string(1, name).msg(2, new Message().msg(1, tensorType));
}
