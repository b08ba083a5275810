/** Half-precision storage (F16, BF16) to float32, exact. */

/** IEEE binary16 bits -> the number they encode (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * binary16 bits -> binary32 bits, exact, NaN payloads kept. A binary16 subnormal m * 2^-24 is
 * normal in binary32: shift m left until its leading 1 reaches bit 10 (the implicit bit), lowering
 * the exponent once per shift.
 */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0; // rebias 15 -> 127
  if (m === 0) return sign >>> 0;
  let e32 = 113; // 2^-14 (the subnormal scale 2^-24 times the implicit 2^10) in binary32 bias
  while (!(m & 0x400)) {
    m <<= 1;
    e32--;
  }
  return (sign | (e32 << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

let F16_TABLE: Uint32Array | undefined;
/** All 65536 binary16 -> binary32 bit patterns (256 KB, built on first use). */
export function f16Table(): Uint32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16BitsToF32Bits(h);
  }
  return F16_TABLE;
}


/** F16 or BF16 bits -> float32 bits into `out`. */
export function halfToF32Bits(dtype: 'F16' | 'BF16', raw: Uint16Array, out: Uint32Array): void {
  if (dtype === 'BF16') {
    for (let i = 0; i < raw.length; i++) out[i] = raw[i]! << 16; // bf16 is the top half of an f32
  } else {
    const table = f16Table();
    for (let i = 0; i < raw.length; i++) out[i] = table[raw[i]!]!;
  }
}
