import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTYPE_BITS, SafetensorsError, readSafetensorsHeader } from '../loaders/safetensors/header.js';
import { readSafetensors, readTensorF32 } from '../loaders/safetensors/read.js';
import { openCheckpointFiles } from '../loaders/safetensors/shards.js';
import { encodeSafetensors } from '../dev/safetensors-encode.js';
import { xorshiftFill } from '../util/random.js';
import { DEIT_TINY, sharedModel } from './helpers/paths.js';

const MODELS = fileURLToPath(new URL('./fixtures/models/', import.meta.url));
const DEIT = sharedModel(DEIT_TINY, 'the DeiT-tiny safetensors test') ?? '';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- independent references: IEEE formats from their definition, not from the code under test ----

/** Value of a binary float with `eb` exponent bits and `mb` mantissa bits (sign in the top bit). */
function decodeBits(bits: number, eb: number, mb: number): number {
  const bias = 2 ** (eb - 1) - 1;
  const sign = Math.floor(bits / 2 ** (eb + mb)) & 1 ? -1 : 1;
  const e = Math.floor(bits / 2 ** mb) % 2 ** eb;
  const m = bits % 2 ** mb;
  if (e === 2 ** eb - 1) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** (1 - bias - mb);
  return sign * (1 + m / 2 ** mb) * 2 ** (e - bias);
}

/**
 * Round-to-nearest-even into a 16-bit format by search: the sorted non-negative finite values of
 * the format plus 2^(emax+1) standing for infinity (IEEE overflow rule); ties pick the even pattern.
 */
function makeRounder(eb: number, mb: number): (x: number) => number {
  const infBits = (2 ** eb - 1) * 2 ** mb;
  const values: number[] = [];
  for (let b = 0; b < infBits; b++) values.push(decodeBits(b, eb, mb));
  values.push(2 ** (2 ** (eb - 1)));
  const signBit = 2 ** (eb + mb);
  return (x: number) => {
    if (Number.isNaN(x)) return NaN;
    const s = x < 0 || Object.is(x, -0) ? signBit : 0;
    const a = Math.abs(x);
    if (a >= values[infBits]!) return s + infBits;
    let lo = 0;
    let hi = infBits; // values[lo] <= a < values[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid]! <= a) lo = mid;
      else hi = mid;
    }
    const dLo = a - values[lo]!;
    const dHi = values[hi]! - a;
    return s + (dLo < dHi || (dLo === dHi && lo % 2 === 0) ? lo : hi);
  };
}
const toF16 = makeRounder(5, 10);
const toBf16 = makeRounder(8, 7);

/** Independent little-endian float32 decode of a file region. */
function f32At(buf: Buffer, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(offset + 4 * i);
  return out;
}

const f32 = (...bits: number[]) => new Float32Array(new Uint32Array(bits).buffer);

/** Edge cases for half-precision rounding, plus seeded random float32 bit patterns. */
function testValues(): Float32Array {
  const special = [
    0, -0, 1, -1, 0.1, 1 / 3, 65504, 65519.99, 65520, -65520, 1e6, 3.4028234e38, Infinity, -Infinity, NaN,
    2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 5 * 2 ** -26, 2 ** -26, 1.5 * 2 ** -24, -(2 ** -24),
    1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e-40, -1e-45, 1.1754942e-38,
  ];
  const rand = new Uint32Array(20000);
  xorshiftFill(rand, 0x12345678);
  const out = new Float32Array(special.length + rand.length);
  out.set(special);
  out.set(new Float32Array(rand.buffer), special.length);
  // Also values near f16 range, where random bit patterns rarely land.
  for (let i = 0; i < 5000; i++) out[special.length + i] = decodeBits(rand[i]! & 0xffff, 5, 10) * (1 + (rand[i]! >>> 16) / 2 ** 27);
  return out;
}

function expectBits(actual: number, expected: number, what: string) {
  if (Number.isNaN(expected)) expect(Number.isNaN(actual), what).toBe(true);
  else expect(Object.is(actual, expected), `${what}: got ${actual}, expected ${expected}`).toBe(true);
}

// ---- file builders for malformed inputs ----

/** Write `8-byte length | header | data`; `len` overrides the declared header length. */
async function writeRaw(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), len?: bigint): Promise<string> {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(len ?? BigInt(json.length));
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([l, json, data]));
  return path;
}

async function expectRejects(p: Promise<unknown>, path: string, pattern: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected an error matching ${pattern}`).toBeInstanceOf(SafetensorsError);
  const msg = (err as Error).message;
  expect(msg.startsWith(`${path}: `), `message names the file: ${msg}`).toBe(true);
  expect(msg).toMatch(pattern);
}

const good = () => ({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] } });
const bytes24 = () => new Uint8Array(f32(...Array.from({ length: 6 }, (_, i) => 0x3f800000 + i)).buffer);

describe('malformed files are rejected with errors that name the file', () => {
  it('accepts the well-formed baseline that the cases below break', async () => {
    const p = await writeRaw('good.safetensors', good(), bytes24());
    const { tensors } = await readSafetensors(p);
    expect(tensors.a!.shape).toEqual([2, 2]);
    expect([...tensors.b!.data]).toEqual([...f32(0x3f800004, 0x3f800005)]);
  });

  it('file shorter than 8 bytes', async () => {
    const p = join(dir, 'short.safetensors');
    await writeFile(p, Buffer.from([1, 2, 3, 4, 5]));
    await expectRejects(readSafetensorsHeader(p), p, /5 bytes, too short/);
  });

  it('file cut inside the header', async () => {
    const full = await readFile(await writeRaw('tmp.safetensors', good(), bytes24()));
    const p = join(dir, 'cut-header.safetensors');
    await writeFile(p, full.subarray(0, 30));
    await expectRejects(readSafetensorsHeader(p), p, /header length \d+ runs past the end of the 30-byte file/);
  });

  it('file cut inside the data', async () => {
    const full = await readFile(await writeRaw('tmp.safetensors', good(), bytes24()));
    const p = join(dir, 'cut-data.safetensors');
    await writeFile(p, full.subarray(0, full.length - 5));
    await expectRejects(readSafetensorsHeader(p), p, /tensor "b".*run past the data section \(19 bytes\)/);
  });

  it('file truncated after its header was read: error, not zeros', async () => {
    const p = await writeRaw('shrinks.safetensors', good(), bytes24());
    const header = await readSafetensorsHeader(p);
    await truncate(p, header.dataStart + 20);
    await expectRejects(readTensorF32(header, 'b'), p, /file ends at byte/);
  });

  it('header lengths of 2^40 and 200 MB in a small file are refused before allocating', async () => {
    for (const [name, len] of [['len-2e40', 2n ** 40n], ['len-200mb', 200_000_000n], ['len-max', 2n ** 64n - 1n]] as const) {
      const p = await writeRaw(`${name}.safetensors`, good(), bytes24(), len);
      await expectRejects(readSafetensorsHeader(p), p, new RegExp(`header length ${len} exceeds the 100 MB limit`));
    }
  });

  it('header length beyond the file (under the limit)', async () => {
    const p = await writeRaw('len-past-eof.safetensors', good(), bytes24(), 5000n);
    await expectRejects(readSafetensorsHeader(p), p, /header length 5000 runs past the end/);
  });

  it('bad JSON, non-object header, invalid UTF-8', async () => {
    const p1 = await writeRaw('bad-json.safetensors', '{"a": {"dtype": "F32",');
    await expectRejects(readSafetensorsHeader(p1), p1, /not valid UTF-8 JSON/);
    const p2 = await writeRaw('array.safetensors', '[1, 2]');
    await expectRejects(readSafetensorsHeader(p2), p2, /not a JSON object/);
    const p3 = await writeRaw('null.safetensors', 'null');
    await expectRejects(readSafetensorsHeader(p3), p3, /not a JSON object/);
    const p4 = join(dir, 'not-utf8.safetensors'); // {"\xff":1}
    await writeFile(p4, Buffer.concat([Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])]));
    await expectRejects(readSafetensorsHeader(p4), p4, /not valid UTF-8/);
  });

  const entryCases: [string, Record<string, unknown>, RegExp][] = [
    ['unknown dtype', { dtype: 'F17' }, /tensor "a": unknown dtype "F17"/],
    ['missing dtype', { dtype: undefined }, /tensor "a": missing or non-string "dtype"/],
    ['missing shape', { shape: undefined }, /tensor "a": missing or non-array "shape"/],
    ['string shape', { shape: '2,2' }, /tensor "a": missing or non-array "shape"/],
    ['non-integer dim', { shape: [2.5, 2] }, /shape \[2\.5,2\] must hold non-negative integers/],
    ['negative dim', { shape: [-2, -2] }, /must hold non-negative integers/],
    ['missing data_offsets', { data_offsets: undefined }, /"data_offsets" undefined must be two/],
    ['three offsets', { data_offsets: [0, 8, 16] }, /"data_offsets" \[0,8,16\] must be two/],
    ['fractional offset', { data_offsets: [0, 15.5] }, /must be two non-negative integers/],
    ['offsets beyond the file', { shape: [1000], data_offsets: [0, 4000] }, /\[0, 4000\] run past the data section \(24 bytes\)/],
    ['begin after end', { data_offsets: [16, 0] }, /\[16, 0\] begin after end/],
    ['shape/size mismatch', { shape: [3] }, /shape \[3\] x F32 is 12 bytes but data_offsets \[0, 16\] span 16/],
    ['BF16 size mismatch', { dtype: 'BF16' }, /x BF16 is 8 bytes but .* span 16/],
    ['entry not an object', { __replace: 42 }, /tensor "a": header entry is not an object/],
  ];
  for (const [what, patch, pattern] of entryCases) {
    it(`header entry: ${what}`, async () => {
      const h: Record<string, unknown> = good();
      h.a = '__replace' in patch ? patch.__replace : { ...(h.a as object), ...patch };
      const p = await writeRaw(`entry-${what.replace(/\W+/g, '-')}.safetensors`, h, bytes24());
      await expectRejects(readSafetensorsHeader(p), p, pattern);
    });
  }

  it('overlapping tensors', async () => {
    const h = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
    const p = await writeRaw('overlap.safetensors', h, bytes24());
    await expectRejects(readSafetensorsHeader(p), p, /tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/);
  });

  it('__metadata__ must map strings to strings', async () => {
    const p1 = await writeRaw('meta-num.safetensors', { ...good(), __metadata__: { format: 'pt', n: 3 } }, bytes24());
    await expectRejects(readSafetensorsHeader(p1), p1, /__metadata__\["n"\] is not a string/);
    const p2 = await writeRaw('meta-arr.safetensors', { ...good(), __metadata__: ['pt'] }, bytes24());
    await expectRejects(readSafetensorsHeader(p2), p2, /__metadata__ is not an object/);
  });

  it('a valid header with I64 / U8 tensors parses, but reading them as float32 is refused', async () => {
    const h = { ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, m: { dtype: 'U8', shape: [8], data_offsets: [16, 24] } };
    const p = await writeRaw('int.safetensors', h, bytes24());
    const header = await readSafetensorsHeader(p);
    expect(header.tensors.get('ids')!.dtype).toBe('I64');
    await expectRejects(readTensorF32(header, 'ids'), p, /unsupported dtype I64 for tensor "ids"/);
    await expectRejects(readTensorF32(header, 'm'), p, /unsupported dtype U8 for tensor "m"/);
    await expectRejects(readTensorF32(header, 'nope'), p, /no tensor named "nope"/);
  });
});

describe('half-precision decoding and encoding, bit-exact against the IEEE definitions', () => {
  for (const [dtype, eb, mb] of [['F16', 5, 10], ['BF16', 8, 7]] as const) {
    it(`decodes all 65536 ${dtype} patterns from an odd data offset`, async () => {
      const all = new Uint16Array(65536).map((_, i) => i);
      // A header of odd length puts the data section at an odd file offset.
      let json = JSON.stringify({ t: { dtype, shape: [256, 256], data_offsets: [0, 131072] } });
      if (json.length % 2 === 0) json += ' ';
      const p = await writeRaw(`all-${dtype}.safetensors`, json, new Uint8Array(all.buffer));
      const { header, tensors } = await readSafetensors(p);
      expect(header.dataStart % 2).toBe(1);
      const got = tensors.t!.data;
      for (let b = 0; b < 65536; b++) expectBits(got[b]!, decodeBits(b, eb, mb), `${dtype} 0x${b.toString(16)}`);
    });
  }

  it('F32 / F16 / BF16 round trips through encodeSafetensors', async () => {
    const values = testValues();
    const half = values.length >> 1;
    const file = encodeSafetensors(
      {
        x32: { shape: [values.length], data: values },
        x16: { shape: [2, half], data: values.subarray(0, 2 * half), dtype: 'F16' },
        xb16: { shape: [values.length], data: values, dtype: 'BF16' },
        empty: { shape: [0, 3], data: new Float32Array(0), dtype: 'BF16' },
      },
      { format: 'pt' },
    );
    const p = join(dir, 'roundtrip.safetensors');
    await writeFile(p, file);
    const { header, tensors } = await readSafetensors(p);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.dataStart % 8).toBe(0);
    expect(new Uint32Array(tensors.x32!.data.buffer)).toEqual(new Uint32Array(values.buffer)); // bit-exact, NaN payloads too
    expect(tensors.x16!.shape).toEqual([2, half]);
    expect(tensors.empty!.shape).toEqual([0, 3]);
    expect(tensors.empty!.data.length).toBe(0);
    for (let i = 0; i < values.length; i++) {
      expectBits(tensors.xb16!.data[i]!, decodeBits(toBf16(values[i]!), 8, 7), `bf16 of ${values[i]} (#${i})`);
      if (i < 2 * half) expectBits(tensors.x16!.data[i]!, decodeBits(toF16(values[i]!), 5, 10), `f16 of ${values[i]} (#${i})`);
    }
    expect(tensors.x32!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(tensors.xb16!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('the reference rounders agree with known cases', () => {
    expect(toBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(toBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even
    expect(toF16(65520)).toBe(0x7c00); // halfway past the max overflows
    expect(toF16(2 ** -25)).toBe(0); // tie with 2^-24 -> 0
    expect(toF16(3 * 2 ** -25)).toBe(2); // tie -> even subnormal
    expect(toF16(-0)).toBe(0x8000);
  });
});

describe('committed fixtures', () => {
  /** Every tensor of a file via an independent float32 parse of the raw bytes. */
  async function independentF32(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const buf = await readFile(path);
    const n = Number(buf.readBigUInt64LE(0));
    const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, v] of Object.entries(h)) {
      if (k === '__metadata__') continue;
      expect(v.dtype).toBe('F32');
      out.set(k, { shape: v.shape, data: f32At(buf, 8 + n + v.data_offsets[0], (v.data_offsets[1] - v.data_offsets[0]) / 4) });
    }
    return out;
  }

  for (const [f32Dir, halfDir, dtype] of [['hf-tiny', 'hf-tiny-bf16', 'BF16'], ['timm-tiny', 'timm-tiny-f16', 'F16']] as const) {
    it(`${f32Dir} (F32) reads as stored; ${halfDir} is it rounded to ${dtype} (nearest-even)`, async () => {
      const ref = await independentF32(join(MODELS, f32Dir, 'model.safetensors'));
      const { header: h32, tensors: t32 } = await readSafetensors(join(MODELS, f32Dir, 'model.safetensors'));
      const { header: hh, tensors: th } = await readSafetensors(join(MODELS, halfDir, 'model.safetensors'));
      expect(new Set(Object.keys(t32))).toEqual(new Set(ref.keys()));
      expect(new Set(Object.keys(th))).toEqual(new Set(ref.keys()));
      const [eb, mb, round] = dtype === 'BF16' ? [8, 7, toBf16] : [5, 10, toF16];
      let count = 0;
      for (const [name, r] of ref) {
        expect(h32.tensors.get(name)!.dtype).toBe('F32');
        expect(hh.tensors.get(name)!.dtype).toBe(dtype);
        expect(t32[name]!.shape).toEqual(r.shape);
        expect(th[name]!.shape).toEqual(r.shape);
        expect(t32[name]!.data).toEqual(r.data);
        const half = th[name]!.data;
        for (let i = 0; i < r.data.length; i++) {
          const want = decodeBits(round(r.data[i]!), eb, mb);
          if (!Object.is(half[i], want)) expect.fail(`${halfDir} ${name}[${i}] = ${half[i]}, want ${want} (f32 ${r.data[i]})`);
        }
        count += r.data.length;
      }
      expect(count).toBeGreaterThan(300_000);
    });
  }

  it('hf-tiny-sharded (7 shards + index) holds exactly hf-tiny, from the directory or the index file', async () => {
    const single = await openCheckpointFiles(join(MODELS, 'hf-tiny'));
    expect(single.files).toEqual([join(MODELS, 'hf-tiny', 'model.safetensors')]);
    expect(single.metadata).toEqual({ format: 'pt' });
    const want = await single.readAll();
    for (const target of [join(MODELS, 'hf-tiny-sharded'), join(MODELS, 'hf-tiny-sharded', 'model.safetensors.index.json')]) {
      const sharded = await openCheckpointFiles(target);
      expect(sharded.files).toHaveLength(7);
      expect(sharded.names().sort()).toEqual(single.names().sort());
      const got = await sharded.readAll();
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      let params = 0;
      for (const [name, t] of Object.entries(want)) {
        expect(got[name]!.shape, name).toEqual(t.shape);
        expect(got[name]!.data, name).toEqual(t.data);
        params += t.data.length;
      }
      expect(Number(sharded.metadata.total_parameters)).toBe(params);
      const name = 'vit.embeddings.position_embeddings';
      expect(sharded.info(name).path).toMatch(/model-0000\d-of-00007\.safetensors$/);
      expect((await sharded.read(name)).data).toEqual(want[name]!.data);
    }
  });
});

describe('sharded checkpoint errors', () => {
  const shardA = () => encodeSafetensors({ x: { shape: [2], data: new Float32Array([1, 2]) } });
  const shardB = () => encodeSafetensors({ y: { shape: [1], data: new Float32Array([3]) } });
  async function ckpt(name: string, files: Record<string, Buffer | string>): Promise<string> {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    for (const [f, content] of Object.entries(files)) await writeFile(join(d, f), content);
    return d;
  }
  const index = (weightMap: Record<string, string>) => JSON.stringify({ metadata: { total_size: 12 }, weight_map: weightMap });
  const INDEX = 'model.safetensors.index.json';

  it('a consistent two-shard checkpoint opens', async () => {
    const d = await ckpt('ok', { 'a.safetensors': shardA(), 'b.safetensors': shardB(), [INDEX]: index({ x: 'a.safetensors', y: 'b.safetensors' }) });
    const c = await openCheckpointFiles(d);
    expect(c.metadata).toEqual({ total_size: '12' });
    expect([...(await c.readAll()).y!.data]).toEqual([3]);
    expect(c.info('x')).toMatchObject({ dtype: 'F32', shape: [2], path: join(d, 'a.safetensors') });
    await expectRejects(c.read('z'), join(d, INDEX), /no tensor named "z"/);
  });

  it('the index names a missing shard', async () => {
    const d = await ckpt('missing', { 'a.safetensors': shardA(), [INDEX]: index({ x: 'a.safetensors', y: 'b.safetensors' }) });
    await expectRejects(openCheckpointFiles(d), join(d, INDEX), /shard "b\.safetensors" named in the index is missing/);
  });

  it('a tensor listed in the index is absent from its shard', async () => {
    const d = await ckpt('absent', { 'a.safetensors': shardA(), 'b.safetensors': shardB(), [INDEX]: index({ x: 'a.safetensors', y: 'a.safetensors' }) });
    await expectRejects(openCheckpointFiles(d), join(d, INDEX), /tensor "y" is listed for shard "a\.safetensors" but absent from it/);
  });

  it('a tensor present in two shards', async () => {
    const d = await ckpt('twice', { 'a.safetensors': shardA(), 'b.safetensors': encodeSafetensors({ x: { shape: [1], data: new Float32Array([5]) } }), [INDEX]: index({ x: 'a.safetensors', z: 'b.safetensors' }) });
    await expectRejects(openCheckpointFiles(d), join(d, INDEX), /tensor "x" is in two shards/);
  });

  it('a shard holds a tensor the index does not list', async () => {
    const d = await ckpt('unlisted', { 'a.safetensors': shardA(), 'b.safetensors': shardB(), [INDEX]: index({ x: 'a.safetensors', q: 'b.safetensors' }) });
    await expectRejects(openCheckpointFiles(d), join(d, INDEX), /tensor "q" is listed for shard "b\.safetensors" but absent/);
  });

  it('a malformed shard is reported by its own path', async () => {
    const d = await ckpt('bad-shard', { 'a.safetensors': shardA(), 'b.safetensors': shardB().subarray(0, 20), [INDEX]: index({ x: 'a.safetensors', y: 'b.safetensors' }) });
    await expectRejects(openCheckpointFiles(d), join(d, 'b.safetensors'), /runs past the end/);
  });

  it('shard names that leave the directory, bad index JSON, no weight_map', async () => {
    const d1 = await ckpt('escape', { [INDEX]: index({ x: '../ok/a.safetensors' }) });
    await expectRejects(openCheckpointFiles(d1), join(d1, INDEX), /leaves the checkpoint directory/);
    const d2 = await ckpt('bad-index', { [INDEX]: '{"weight_map": {' });
    await expectRejects(openCheckpointFiles(d2), join(d2, INDEX), /index is not valid JSON/);
    const d3 = await ckpt('no-map', { [INDEX]: '{"metadata": {}}' });
    await expectRejects(openCheckpointFiles(d3), join(d3, INDEX), /no "weight_map" object/);
  });

  it('a directory without safetensors, and a missing path', async () => {
    const d = await ckpt('empty', { 'config.json': '{}', 'other.safetensors': shardA() });
    await expectRejects(openCheckpointFiles(d), d, /no model\.safetensors or model\.safetensors\.index\.json.*found other\.safetensors/);
    const gone = join(dir, 'does-not-exist');
    await expectRejects(openCheckpointFiles(gone), gone, /cannot open checkpoint/);
  });

  it('a single .safetensors path and its copy elsewhere', async () => {
    const d = await ckpt('single', {});
    await copyFile(join(MODELS, 'timm-tiny-f16', 'model.safetensors'), join(d, 'weights.safetensors'));
    const c = await openCheckpointFiles(join(d, 'weights.safetensors'));
    expect(c.files).toEqual([join(d, 'weights.safetensors')]);
    expect(c.info('pos_embed').dtype).toBe('F16');
  });
});

describe.skipIf(!DEIT)('real DeiT-tiny weights', () => {
  it('reads every tensor of the 22 MB checkpoint', async () => {
    const t0 = performance.now();
    const c = await openCheckpointFiles(DEIT);
    const all = await c.readAll();
    const ms = performance.now() - t0;
    const params = Object.values(all).reduce((n, t) => n + t.data.length, 0);
    console.log(`DeiT-tiny: ${Object.keys(all).length} tensors, ${params} params, read in ${ms.toFixed(0)} ms`);
    const header = await readSafetensorsHeader(c.files[0]!);
    const bytes = c.names().reduce((n, name) => n + (DTYPE_BITS[c.info(name).dtype] / 8) * all[name]!.data.length, 0);
    expect(bytes).toBe(header.fileSize - header.dataStart); // every stored byte accounted for
    expect(params).toBeGreaterThan(5_000_000);
  });
});
