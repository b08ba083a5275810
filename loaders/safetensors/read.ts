/** Tensors of one safetensors file, converted to float32 on shared memory. */
import type { FileHandle } from 'node:fs/promises';
import { sharedFloat32, type Tensor } from '../../model/weights.js';
import { halfToF32Bits } from './dtype.js';
import { LITTLE_ENDIAN_HOST, openFile, readFully, readHeaderFrom, SafetensorsError, type SafetensorsHeader } from './header.js';

/** Read one tensor through an open handle, converted to float32 on shared memory. */
async function readTensorFrom(fh: FileHandle, header: SafetensorsHeader, name: string): Promise<Tensor> {
  const info = header.tensors.get(name);
  if (!info) throw new SafetensorsError(header.path, `no tensor named "${name}"`);
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError(header.path, 'reading needs a little-endian host');
  const count = info.shape.reduce((a, b) => a * b, 1);
  const position = header.dataStart + info.begin;
  const out = sharedFloat32(count);
  if (info.dtype === 'F32') {
    await readFully(fh, header.path, new Uint8Array(out.buffer), position);
  } else if (info.dtype === 'BF16' || info.dtype === 'F16') {
    // The data may start at an odd file offset; reading into a fresh Uint16Array keeps the view aligned.
    const raw = new Uint16Array(count);
    await readFully(fh, header.path, new Uint8Array(raw.buffer), position);
    halfToF32Bits(info.dtype, raw, new Uint32Array(out.buffer));
  } else {
    throw new SafetensorsError(header.path, `unsupported dtype ${info.dtype} for tensor "${name}" (only F32, F16, BF16 convert to float32)`);
  }
  return { shape: info.shape.slice(), data: out };
}

/** Read several tensors of one file through a single open handle. */
export async function readTensorsOf(header: SafetensorsHeader, names: Iterable<string>): Promise<Record<string, Tensor>> {
  const fh = await openFile(header.path);
  try {
    const out: Record<string, Tensor> = {};
    for (const name of names) out[name] = await readTensorFrom(fh, header, name);
    return out;
  } finally {
    await fh.close();
  }
}

/** Read one tensor, converted to float32 on shared memory. */
export async function readTensorF32(header: SafetensorsHeader, name: string): Promise<Tensor> {
  return (await readTensorsOf(header, [name]))[name]!;
}

/** Every tensor of one file, as float32 (the file is opened once). */
export async function readSafetensors(path: string): Promise<{ header: SafetensorsHeader; tensors: Record<string, Tensor> }> {
  const fh = await openFile(path);
  try {
    const header = await readHeaderFrom(fh, path);
    const tensors: Record<string, Tensor> = {};
    for (const name of header.tensors.keys()) tensors[name] = await readTensorFrom(fh, header, name);
    return { header, tensors };
  } finally {
    await fh.close();
  }
}
