/**
 * Float32 -> TF32 (10-bit mantissa) rounding to nearest, ties away from zero: PTX `cvt.rna.tf32.f32`, which the
 * kernels apply to the activations they write in --precision tf32. Weights get the same rounding once at upload.
 * NaN and infinities pass through; a value past the largest TF32 becomes an infinity.
 */
export function roundToTf32(src: Float32Array): Float32Array {
  const out = new Float32Array(src.length);
  const i = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const o = new Uint32Array(out.buffer);
  for (let k = 0; k < i.length; k++) {
    const u = i[k]!;
    o[k] = (u & 0x7f800000) === 0x7f800000 ? u : ((u + 0x1000) & 0xffffe000) >>> 0;
  }
  return out;
}
