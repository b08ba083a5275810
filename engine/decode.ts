/**
 * Image decoding with sharp (libvips) to 8-bit RGB, matching what the reference pipelines feed
 * their transforms: PIL's `Image.open(f).convert('RGB')`.
 *
 * - JPEG, PNG, WebP, GIF (first frame), TIFF (first page), AVIF/HEIF.
 * - EXIF orientation IS applied (PIL's Image.open, ViTImageProcessor and timm do not apply it;
 *   a photo from a phone would reach them sideways). This equals PIL's ImageOps.exif_transpose.
 * - Embedded ICC profiles are ignored, as PIL's convert('RGB') ignores them (sharp would
 *   otherwise convert to sRGB).
 * - Grey -> RGB by replication; alpha is dropped without compositing (PIL's RGBA/LA -> RGB, and
 *   P with transparency -> RGB, keep the colour of transparent pixels).
 * - CMYK (JPEG/TIFF) -> RGB with PIL's cmyk2rgb on the raw CMYK samples, no colour management.
 * - 16-bit samples -> 8 bit by keeping the high byte (PIL's "RGB;16B" unpacker). PIL turns a
 *   16-bit *grey* PNG (mode I;16) into RGB by clipping at 255 instead; we keep the high byte
 *   there too (documented divergence: PIL's result is mostly white).
 * - Truncated or corrupt data is an error (sharp failOn 'truncated'), never grey filler pixels.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { decodeBudget, shrinkOnDecode, type DecodeTarget } from './decode-budget.js';
import { readRegular } from '../util/regular-file.js';

export interface DecodedImage {
  width: number;
  height: number;
  /** RGB interleaved, row-major, width * height * 3 bytes. */
  data: Uint8Array;
  /** Set when the image was reduced on decode (see engine/decode-budget.ts): its size before. */
  reducedFrom?: [number, number];
}

export interface DecodeOptions {
  /** Lets a huge image be reduced on decode (engine/decode-budget.ts); without it, images decode at full size. */
  target?: DecodeTarget;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'ImageDecodeError';
  }
}

/** Decode a file (path) or an in-memory encoded image; `label` names a buffer in errors. */
export async function decodeImage(input: string | Buffer, label?: string, opts: DecodeOptions = {}): Promise<DecodedImage> {
  const name = typeof input === 'string' ? input : (label ?? '<buffer>');
  let bytes: Buffer;
  try {
    bytes = typeof input === 'string' ? await readRegular(input) : input;
  } catch (e) {
    const why = (e as Error).message.startsWith(`${name}: `) ? (e as Error).message.slice(name.length + 2) : (e as Error).message;
    throw new ImageDecodeError(name, `cannot read file (${why})`, { cause: e });
  }
  if (bytes.length === 0) throw new ImageDecodeError(name, 'empty file, not an image');
  let err: Error;
  try {
    return await decodeBytes(bytes, opts.target);
  } catch (e) {
    err = e as Error;
  }
  // libvips keeps one error buffer per process and sharp clears it after every operation, so a decode finishing
  // on another worker thread at that moment takes the message ("Unknown error"). A few more tries, spaced out,
  // for the real message (or the image, if that failure was not its own).
  for (let i = 1; i <= 3 && /^\s*Unknown error\s*$/.test(err.message); i++) {
    await new Promise((r) => setTimeout(r, 10 * i));
    try {
      return await decodeBytes(bytes, opts.target);
    } catch (again) {
      err = again as Error;
    }
  }
  throw new ImageDecodeError(name, `cannot decode image (${err.message.trim()})`, { cause: err });
}

async function decodeBytes(bytes: Buffer, target: DecodeTarget | undefined): Promise<DecodedImage> {
  const open = () =>
    sharp(bytes, { failOn: 'truncated', autoOrient: true, ignoreIcc: true, pages: 1, page: 0, limitInputPixels: 1 << 28 });
  const meta = await open().metadata();
  const side = meta.width && meta.height ? shrinkOnDecode(meta.width, meta.height, target) : undefined;
  const pixels = side ? side * side : (meta.width ?? 1) * (meta.height ?? 1);
  // The decoded bytes (sharp's and the RGB copy) count against this thread's budget until returned.
  const release = await decodeBudget.acquire(pixels);
  try {
    const img = await decodePixels(open, meta, side);
    return side ? { ...img, reducedFrom: [meta.height!, meta.width!] } : img;
  } finally {
    release();
  }
}

async function decodePixels(open: () => Sharp, meta: Metadata, side: number | undefined): Promise<DecodedImage> {
  let pipeline = open();
  if (side) pipeline = pipeline.resize(side, side, { fit: 'inside', kernel: 'lanczos3' });
  const cmyk = meta.space === 'cmyk';
  const sixteen = meta.depth === 'ushort';
  if (cmyk) {
    pipeline = pipeline.pipelineColourspace('cmyk').toColourspace('cmyk').raw();
  } else if (sixteen) {
    const space = meta.space === 'grey16' || meta.space === 'b-w' ? 'grey16' : 'rgb16';
    pipeline = pipeline.pipelineColourspace(space).toColourspace(space).raw({ depth: 'ushort' });
  } else if (meta.space === 'srgb' || meta.space === 'b-w' || meta.space === 'rgb') {
    pipeline = pipeline.raw();
  } else {
    pipeline = pipeline.toColourspace('srgb').raw();
  }
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const bytesPerSample = data.length / (n * channels);
  if (bytesPerSample !== (sixteen ? 2 : 1)) {
    throw new Error(`unexpected raw output (${data.length} bytes for ${width}x${height}x${channels})`);
  }
  if (sixteen) {
    // 16-bit samples in machine (little-endian) order: keep the high byte.
    const u16 = new Uint16Array(data.buffer, data.byteOffset, n * channels);
    const grey = channels <= 2;
    for (let i = 0, p = 0, o = 0; i < n; i++, p += channels) {
      if (grey) {
        const v = u16[p] >> 8;
        out[o++] = v;
        out[o++] = v;
        out[o++] = v;
      } else {
        out[o++] = u16[p] >> 8;
        out[o++] = u16[p + 1] >> 8;
        out[o++] = u16[p + 2] >> 8;
      }
    }
    return { width, height, data: out };
  }
  if (cmyk) {
    if (channels !== 4) throw new Error(`CMYK image with ${channels} channels`);
    cmykToRgb(data, out, n);
  } else if (channels <= 2) {
    for (let i = 0, p = 0, o = 0; i < n; i++, p += channels) {
      const v = data[p];
      out[o++] = v;
      out[o++] = v;
      out[o++] = v;
    }
  } else if (channels === 3) {
    out.set(data.subarray(0, n * 3));
  } else {
    for (let i = 0, p = 0, o = 0; i < n; i++, p += channels) {
      out[o++] = data[p];
      out[o++] = data[p + 1];
      out[o++] = data[p + 2];
    }
  }
  return { width, height, data: out };
}

/**
 * PIL's cmyk2rgb (Convert.c): nk = 255 - K; each channel = clip(nk - MULDIV255(C, nk)), where
 * MULDIV255(a, b) = ((t >> 8) + t) >> 8 with t = a * b + 128 (a rounded a * b / 255).
 */
export function cmykToRgb(cmyk: Uint8Array, rgb: Uint8Array, pixels: number): void {
  for (let i = 0, p = 0, o = 0; i < pixels; i++, p += 4) {
    const nk = 255 - cmyk[p + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[p + c] * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      rgb[o++] = v < 0 ? 0 : v;
    }
  }
}
