/**
 * A minimal protobuf writer for the subset of onnx.proto that an inference graph needs (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto). Messages are trees of fields whose
 * sizes are computed first, then written once into one buffer; tensor payloads are written in place by
 * callbacks, so weights are copied (or transposed) straight into the model bytes.
 */

/** Bytes written at encode time: `write(dst, offset)` fills dst[offset, offset + length). */
export interface Payload {
  length: number;
  write(dst: Uint8Array, offset: number): void;
}

type Field =
  | { no: number; kind: 'varint'; v: number | bigint }
  | { no: number; kind: 'fixed32'; v: number }
  | { no: number; kind: 'bytes'; v: Uint8Array | Payload }
  | { no: number; kind: 'msg'; v: Message }
  | { no: number; kind: 'packed'; v: (number | bigint)[] };

export class Message {
  readonly fields: Field[] = [];
  private cached = -1;
  varint(no: number, v: number | bigint): this {
    this.fields.push({ no, kind: 'varint', v });
    return this;
  }
  float(no: number, v: number): this {
    this.fields.push({ no, kind: 'fixed32', v });
    return this;
  }
  string(no: number, s: string): this {
    this.fields.push({ no, kind: 'bytes', v: new TextEncoder().encode(s) });
    return this;
  }
  bytes(no: number, v: Uint8Array | Payload): this {
    this.fields.push({ no, kind: 'bytes', v });
    return this;
  }
  msg(no: number, v: Message): this {
    this.fields.push({ no, kind: 'msg', v });
    return this;
  }
  /** Repeated varints, packed (proto3 default; proto2 parsers accept it too). */
  packed(no: number, v: (number | bigint)[]): this {
    this.fields.push({ no, kind: 'packed', v });
    return this;
  }

  size(): number {
    if (this.cached >= 0) return this.cached;
    let n = 0;
    for (const f of this.fields) {
      n += varintSize(f.no << 3);
      if (f.kind === 'varint') n += varintSize(f.v);
      else if (f.kind === 'fixed32') n += 4;
      else {
        const len = bodySize(f);
        n += varintSize(len) + len;
      }
    }
    return (this.cached = n);
  }

  /** The encoded message in one new buffer. */
  encode(): Uint8Array {
    const total = this.size();
    if (total > 2 ** 31 - 1) throw new Error(`ONNX model of ${total} bytes: protobuf messages are limited to 2 GiB`);
    const out = new Uint8Array(total);
    const end = this.writeTo(out, 0);
    if (end !== total) throw new Error(`protobuf writer: wrote ${end} of ${total} bytes`);
    return out;
  }

  writeTo(dst: Uint8Array, at: number): number {
    const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
    for (const f of this.fields) {
      const wire = f.kind === 'varint' ? 0 : f.kind === 'fixed32' ? 5 : 2;
      at = writeVarint(dst, at, (f.no << 3) | wire);
      if (f.kind === 'varint') at = writeVarint(dst, at, f.v);
      else if (f.kind === 'fixed32') {
        view.setFloat32(at, f.v, true);
        at += 4;
      } else {
        at = writeVarint(dst, at, bodySize(f));
        if (f.kind === 'msg') at = f.v.writeTo(dst, at);
        else if (f.kind === 'packed') for (const x of f.v) at = writeVarint(dst, at, x);
        else if (f.v instanceof Uint8Array) {
          dst.set(f.v, at);
          at += f.v.length;
        } else {
          f.v.write(dst, at);
          at += f.v.length;
        }
      }
    }
    return at;
  }
}

function bodySize(f: Field): number {
  if (f.kind === 'msg') return f.v.size();
  if (f.kind === 'packed') return f.v.reduce<number>((n, x) => n + varintSize(x), 0);
  if (f.kind === 'bytes') return f.v.length;
  throw new Error('not length-delimited');
}

/** Negative int64 values take ten bytes (two's complement), as protobuf encodes them. */
function toU64(v: number | bigint): bigint {
  const b = BigInt(v);
  return b < 0n ? b + (1n << 64n) : b;
}

function varintSize(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
    let n = 1;
    while (v >= 0x80) {
      v = v >>> 7;
      n++;
    }
    return n;
  }
  let b = toU64(v);
  let n = 1;
  while (b >= 0x80n) {
    b >>= 7n;
    n++;
  }
  return n;
}

function writeVarint(dst: Uint8Array, at: number, v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
    while (v >= 0x80) {
      dst[at++] = (v & 0x7f) | 0x80;
      v = v >>> 7;
    }
    dst[at++] = v;
    return at;
  }
  let b = toU64(v);
  while (b >= 0x80n) {
    dst[at++] = Number(b & 0x7fn) | 0x80;
    b >>= 7n;
  }
  dst[at++] = Number(b);
  return at;
}
