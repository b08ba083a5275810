/** A safetensors writer for tests and fixtures (F32, F16 or BF16 storage). */
import { endianness } from 'node:os';

/** float32 bits -> bfloat16 bits, round to nearest, ties to even; NaN stays NaN. */
export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff (+1 when the kept lowest bit is odd) carries into bit 16 exactly when rounding up.
  // (Non-NaN bits are at most 0xff800000, so the sum stays below 2^32.)
  return ((bits >>> 0) + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** float32 value -> binary16 bits, round to nearest, ties to even; overflow gives infinity. */
export function f32ToF16Bits(v: number): number {
  const x = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result: shift the full 24-bit significand down to units of 2^-24.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent (even to infinity) is correct
  return sign | h;
}


export type WritableDType = 'F32' | 'F16' | 'BF16';

/** Encode tensors as a safetensors file (F32 data converted to the requested storage dtype). */
export function encodeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array; dtype?: WritableDType }>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`encodeSafetensors: tensor "${name}" has shape [${t.shape}] but ${t.data.length} values`);
    const dtype = t.dtype ?? 'F32';
    const bytes = encodeData(t.data, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    parts.push(bytes);
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // keep the data section 8-byte aligned, as the Rust writer does
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...parts]);
}

function encodeData(data: Float32Array, dtype: WritableDType): Uint8Array {
  if (endianness() !== 'LE') throw new Error('encodeSafetensors needs a little-endian host');
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(Float32Array.from(data).buffer);
    for (let i = 0; i < data.length; i++) out[i] = f32BitsToBf16(bits[i]!);
  } else {
    for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]!);
  }
  return new Uint8Array(out.buffer);
}
