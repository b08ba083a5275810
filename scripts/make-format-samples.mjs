#!/usr/bin/env node
/**
 * Writes small variants of test/photos into test/photos/formats/, one per decoder path that
 * engine/decode.ts must handle the way PIL's Image.open(...).convert('RGB') does:
 *
 *   node scripts/make-format-samples.mjs
 *
 * Every sample is first cropped/scaled to at most ~256 px (the directory stays well under 600 KB).
 * scripts/make-preprocess-fixtures.py decodes the same files with PIL for the comparison tests.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

const PHOTOS = 'test/photos';
const OUT = join(PHOTOS, 'formats');

/** A photo as 8-bit RGB (or grey) raw pixels, scaled so its longer side is `side`. */
async function small(name, side, extract) {
  let s = sharp(join(PHOTOS, name), { ignoreIcc: true });
  if (extract) s = s.extract(extract);
  const { data, info } = await s
    .resize(side, side, { fit: 'inside', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

const fromRaw = (img) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });

async function main() {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const chelsea = await small('chelsea.png', 256);
  const coffee = await small('coffee.png', 240);
  const squirrel = await small('squirrel_cls.jpg', 256);
  const fish = await small('HappyFish.jpg', 200);
  const camera = await small('camera.png', 224);
  const cameraSmall = await small('camera.png', 160);
  const squirrelSmall = await small('squirrel_cls.jpg', 128);
  const coffeeSmall = await small('coffee.png', 180);

  const samples = {
    // Lossless WebP: decoders must agree exactly.
    'chelsea-lossless.webp': fromRaw(chelsea).webp({ lossless: true }),
    // GIF: a palette image; PIL and libvips both give the palette colours of frame 0.
    'coffee.gif': fromRaw(coffee).gif({ colours: 256, dither: 0 }),
    'squirrel-deflate.tiff': fromRaw(squirrelSmall).tiff({ compression: 'deflate', predictor: 'horizontal' }),
    // AVIF lossless (4:4:4, identity matrix) so PIL/libavif and libvips/libheif agree exactly.
    'fish-lossless.avif': fromRaw(fish).avif({ lossless: true }),
    // Grey JPEG (PIL mode L): replicated to RGB.
    'camera-grey.jpg': fromRaw(camera).toColourspace('b-w').jpeg({ quality: 90 }),
    // Palette PNG with a transparent index (tRNS): convert('RGB') drops the transparency.
    'fish-palette-trns.png': fromRaw(withAlpha(fish, 'binary')).png({ palette: true, colours: 64, dither: 0 }),
    // CMYK JPEG (Adobe, inverted), converted by PIL with its naive cmyk2rgb formula.
    'squirrel-cmyk.jpg': fromRaw(squirrel).toColourspace('cmyk').jpeg({ quality: 92 }),
    // EXIF orientation 6 (rotate 90° clockwise to display); pixels stored unrotated.
    'chelsea-orient6.jpg': fromRaw(chelsea).jpeg({ quality: 92 }).withMetadata({ orientation: 6 }),
    // RGBA with a real alpha ramp, transparent pixels keep their colour: convert('RGB') drops alpha.
    'coffee-rgba.png': fromRaw(withAlpha(coffeeSmall, 'ramp')).png(),
    // Grey + alpha (PIL mode LA).
    'camera-grey-alpha.png': fromRaw(withAlpha(cameraSmall, 'ramp')).toColourspace('b-w').png(),
    // 16-bit RGB PNG whose low bytes are not a copy of the high bytes: PIL keeps the high byte.
    'squirrel-16bit.png': sharp(to16(squirrelSmall), {
      raw: { width: squirrelSmall.width, height: squirrelSmall.height, channels: 3, depth: 'ushort' },
    })
      .toColourspace('rgb16')
      .png(),
  };
  let total = 0;
  for (const [name, s] of Object.entries(samples)) {
    const buf = await s.toBuffer();
    await writeFile(join(OUT, name), buf);
    total += buf.length;
    const m = await sharp(buf).metadata();
    console.log(`${name.padEnd(26)} ${String(buf.length).padStart(7)} B  ${m.width}x${m.height} ${m.space} ${m.channels}ch ${m.depth}`);
  }
  for (const f of await readdir(OUT)) if (!(f in samples)) total += (await stat(join(OUT, f))).size;
  console.log(`total ${total} B`);
}

/** Adds an alpha channel: a diagonal ramp 0..255, or 'binary' (a transparent band, else opaque). */
function withAlpha(img, kind) {
  const { width, height, channels } = img;
  const out = Buffer.alloc(width * height * (channels + 1));
  for (let y = 0, o = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) out[o++] = img.data[p++];
      const t = (x + y) / (width + height - 2);
      out[o++] = kind === 'ramp' ? Math.round(255 * t) : t < 0.3 ? 0 : 255;
    }
  }
  return { data: out, width, height, channels: channels + 1 };
}

/** 16-bit samples v * 256 + (a pattern in the low byte), big-endian order handled by sharp. */
function to16(img) {
  const n = img.width * img.height * img.channels;
  const u16 = new Uint16Array(n);
  for (let i = 0; i < n; i++) u16[i] = img.data[i] * 256 + ((i * 37) & 255);
  return u16;
}

await main();
