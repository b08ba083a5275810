/**
 * The hostile-input pass (issue 12), through the built CLI as a user runs it: real files, FIFOs, /dev/full,
 * huge PNGs made with sharp, killed runs, bad configs and checkpoints. Every case checks the exit code and
 * that the message names what is wrong.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeTable } from '../cli/output.js';
import { FULL_DECODE_MAX_PIXELS, shrinkOnDecode } from '../engine/decode-budget.js';
import { CLI, vit } from './helpers/cli.js';
import { MODELS, PHOTOS } from './helpers/paths.js';

const TINY = join(MODELS, 'hf-tiny');
const TIMM = join(MODELS, 'timm-tiny');
const SHARDED = join(MODELS, 'hf-tiny-sharded');

const jsonl = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { file: string; top?: unknown[]; error?: string });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vit-hostile-'));
  for (const f of ['chelsea.png', 'coffee.png', 'apple.jpg', 'orange.jpg']) copyFileSync(join(PHOTOS, f), join(dir, f));
});

/** A copy of a model directory to damage. */
function modelCopy(from = TINY): string {
  const d = mkdtempSync(join(tmpdir(), 'vit-model-'));
  cpSync(from, d, { recursive: true });
  return d;
}

/** Header (JSON text) and data start of a safetensors file. */
function header(file: string): { json: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; text: string; dataStart: number } {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const text = b.subarray(8, 8 + n).toString('utf8');
  return { json: JSON.parse(text), text, dataStart: 8 + n };
}

describe('1. a failed write of the output fails the run', () => {
  it('--output /dev/full: exit 2, saying how many records were written', async () => {
    const r = await vit(['classify', dir, '--model', TINY, '--workers', '1', '--format', 'jsonl', '--output', '/dev/full']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/dev\/full: write failed \(ENOSPC.*\) after 0 record\(s\) were written/);
  });
});

describe('2. previous results are never destroyed; --resume', () => {
  it('a backend failure and a Ctrl-C during start-up leave an existing output file as it was', async () => {
    const out = join(dir, 'keep.jsonl');
    writeFileSync(out, '{"file":"previous","top":[]}\n');
    const failed = await vit(['classify', dir, '--model', TINY, '--backend', 'tensorflow', '--output', out]);
    expect(failed.code).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('{"file":"previous","top":[]}\n');
    // SIGINT as soon as the process runs, before its workers are up.
    const child = spawn('node', [CLI, 'classify', dir, '--model', TINY, '--output', out]);
    setTimeout(() => child.kill('SIGINT'), 300);
    const code = await new Promise<number | null>((r) => child.on('close', (c, s) => r(c ?? (s === 'SIGINT' ? 130 : -1))));
    expect(code).toBe(130);
    expect(readFileSync(out, 'utf8')).toBe('{"file":"previous","top":[]}\n');
  });

  it('a finished run replaces an existing file; no temporary file is left', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vit-out-'));
    const out = join(d, 'r.jsonl');
    writeFileSync(out, 'old\n');
    const r = await vit(['classify', join(dir, 'coffee.png'), '--model', TINY, '--format', 'jsonl', '--output', out]);
    expect(r.code).toBe(0);
    expect(jsonl(readFileSync(out, 'utf8')).map((l) => l.file)).toEqual([join(dir, 'coffee.png')]);
    expect(spawnSync('ls', ['-A', d]).stdout.toString().trim()).toBe('r.jsonl');
  });

  for (const format of ['jsonl', 'csv', 'table'] as const) {
    it(`--resume (${format}) skips recorded inputs, redoes a torn last record, appends the rest: same records as one full run`, async () => {
      const full = join(dir, `full.${format}`);
      const part = join(dir, `part.${format}`);
      const args = ['classify', dir, '--model', TINY, '--workers', '1', '--format', format, '--top-k', '3'];
      expect((await vit([...args, '--output', full])).code).toBe(0);
      const whole = readFileSync(full, 'utf8');
      // A run killed mid-write: the first records, then half of the next line.
      const lines = whole.split('\n');
      const keep = format === 'csv' ? 1 + 3 + 2 : 1; // csv: header, a whole record, then 2 of the next 3 rows
      const torn = lines.slice(0, keep).join('\n') + '\n' + lines[keep]!.slice(0, 9);
      writeFileSync(part, torn);
      const r = await vit([...args, '--output', part, '--resume']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/1 skipped/);
      expect(readFileSync(part, 'utf8')).toBe(whole);
    });
  }

  it('--resume without --output, or on a file that is not a record file, is refused (exit 2)', async () => {
    const a = await vit(['classify', dir, '--model', TINY, '--resume']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--resume needs --output/);
    const notes = join(dir, 'notes.jsonl');
    writeFileSync(notes, 'not a record\n');
    const b = await vit(['classify', dir, '--model', TINY, '--format', 'jsonl', '--output', notes, '--resume']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/notes\.jsonl line 1 is not a jsonl record/);
    expect(readFileSync(notes, 'utf8')).toBe('not a record\n');
  });
});

describe('3. bounded memory', () => {
  it('eight 16000x16000 PNGs are classified in under 2 GB peak RSS', async () => {
    const big = mkdtempSync(join(tmpdir(), 'vit-big-'));
    // Stripes, so the encoder has some work and the decoder real pixels.
    const stripes = Buffer.alloc(16000 * 16 * 3);
    for (let i = 0; i < stripes.length; i++) stripes[i] = (i * 7) & 255;
    await sharp(stripes, { raw: { width: 16000, height: 16, channels: 3 } })
      .resize(16000, 16000, { kernel: 'nearest' })
      .png({ compressionLevel: 9 })
      .toFile(join(big, 'huge0.png'));
    for (let i = 1; i < 8; i++) copyFileSync(join(big, 'huge0.png'), join(big, `huge${i}.png`));
    const meta = await sharp(join(big, 'huge0.png')).metadata();
    expect(meta.width! * meta.height!).toBe(256_000_000);
    const timeBin = existsSync('/usr/bin/time');
    const cmd = timeBin ? ['/usr/bin/time', '-v', 'node'] : ['node'];
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), CLI, 'classify', big, '--model', TINY, '--format', 'jsonl', '--batch-size', '8'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status).toBe(0);
    const lines = jsonl(r.stdout);
    expect(lines).toHaveLength(8);
    expect(lines.every((l) => l.top?.length === 5)).toBe(true);
    if (timeBin) {
      const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)![1]);
      console.log(`eight 16000x16000 PNGs: peak RSS ${(kb / 1024).toFixed(0)} MB`);
      expect(kb * 1024).toBeLessThan(2 * 2 ** 30);
    } else console.warn('/usr/bin/time is absent: peak RSS not measured');
    rmSync(big, { recursive: true, force: true });
  });

  it('only images over 2^26 pixels are reduced on decode (photos stay exact)', () => {
    const t = { size: [224, 224] as [number, number], cropPct: 0.875 };
    expect(shrinkOnDecode(8192, 8192, t)).toBeUndefined(); // exactly 2^26
    expect(8192 * 8192).toBe(FULL_DECODE_MAX_PIXELS);
    expect(shrinkOnDecode(6000, 4000, t)).toBeUndefined(); // a 24 MP photo
    const side = shrinkOnDecode(16000, 12000, t)!;
    expect(side).toBe(Math.ceil(16000 * (4 * 224 / 0.875 / 12000)));
  });

  it('absurd --workers, --batch-size and --image-size are refused at start with a reason (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['--workers', '100000'], /--workers is capped at \d+ \(4 per CPU core, at most 256\)/],
      [['--batch-size', '1000000000'], /--batch-size is capped at 1024/],
      [['--image-size', '8192'], /--image-size is capped at 4096/],
      [['--image-size', '4000', '--batch-size', '8'], /needs [\d.]+ GiB for the attention scores/],
    ];
    for (const [args, re] of cases) {
      const r = await vit(['classify', dir, '--model', TINY, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });
});

describe('4. non-finite numbers are never a result', () => {
  it('a NaN weight is refused at load, naming the tensor and the file', async () => {
    const m = modelCopy();
    const file = join(m, 'model.safetensors');
    const h = header(file);
    const [begin] = h.json['classifier.bias']!.data_offsets;
    const b = readFileSync(file);
    b.writeFloatLE(NaN, h.dataStart + begin + 4);
    writeFileSync(file, b);
    const r = await vit(['classify', join(dir, 'coffee.png'), '--model', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: tensor "classifier.bias" holds a non-finite value (NaN at element 1)`);
  });

  it('logits that overflow to Inf are an error for each image, exit 1', async () => {
    const m = modelCopy();
    const file = join(m, 'model.safetensors');
    const h = header(file);
    const [begin, end] = h.json['classifier.weight']!.data_offsets;
    const b = readFileSync(file);
    // Finite weights (the load check passes) whose products overflow float32 in the head.
    for (let o = h.dataStart + begin; o < h.dataStart + end; o += 4) b.writeFloatLE(Math.sign(b.readFloatLE(o)) * 3e38, o);
    writeFileSync(file, b);
    const r = await vit(['classify', join(dir, 'coffee.png'), join(dir, 'chelsea.png'), '--model', m, '--format', 'jsonl']);
    expect(r.code).toBe(1);
    const lines = jsonl(r.stdout);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.error).toMatch(/output is not finite/);
  });

  it('std [0, 0, 0] is a set-up error naming preprocessor_config.json', async () => {
    const m = modelCopy();
    const pre = JSON.parse(readFileSync(join(m, 'preprocessor_config.json'), 'utf8'));
    writeFileSync(join(m, 'preprocessor_config.json'), JSON.stringify({ ...pre, image_std: [0, 0, 0] }));
    const r = await vit(['classify', join(dir, 'coffee.png'), '--model', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(m, 'preprocessor_config.json')}: std [0,0,0] must be 3 finite numbers, none 0`);
  });
});

describe('5. only regular files are read', () => {
  it('a FIFO among the inputs, named or inside a directory, gets an error record; the rest is classified', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vit-fifo-'));
    const e = mkdtempSync(join(tmpdir(), 'vit-fifo-named-'));
    copyFileSync(join(dir, 'coffee.png'), join(d, 'a.png'));
    copyFileSync(join(dir, 'chelsea.png'), join(d, 'c.png'));
    expect(spawnSync('mkfifo', [join(d, 'b.jpg'), join(e, 'named.png')]).status).toBe(0);
    const r = await vit(['classify', d, join(e, 'named.png'), '--model', TINY, '--format', 'jsonl'], { timeoutMs: 30_000 });
    expect(r.signal).toBeNull(); // not killed by the timeout: nothing hung
    expect(r.code).toBe(1);
    const lines = jsonl(r.stdout);
    expect(lines.map((l) => l.file)).toEqual([join(d, 'a.png'), join(d, 'b.jpg'), join(d, 'c.png'), join(e, 'named.png')]);
    expect(lines[1]!.error).toMatch(/b\.jpg: cannot read file \(a FIFO, not a regular file/);
    expect(lines[3]!.error).toMatch(/named\.png: cannot read file \(a FIFO/);
    expect(lines[0]!.top).toHaveLength(5);
    expect(lines[2]!.top).toHaveLength(5);
  });

  it('--model a FIFO, or a model whose config.json is a FIFO, fails at once naming it', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vit-fifo-model-'));
    spawnSync('mkfifo', [join(d, 'model.safetensors')]);
    const a = await vit(['classify', join(dir, 'coffee.png'), '--model', join(d, 'model.safetensors')], { timeoutMs: 30_000 });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain(`${join(d, 'model.safetensors')}: a FIFO, not a regular file`);
    const m = modelCopy();
    renameSync(join(m, 'config.json'), join(m, 'config.old'));
    spawnSync('mkfifo', [join(m, 'config.json')]);
    const b = await vit(['inspect', m], { timeoutMs: 30_000 });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`${join(m, 'config.json')}: a FIFO`);
  });
});

describe('6. config values are checked before anything is allocated', () => {
  const cases: [string, string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
    ['depth 1e9', TINY, (c) => ({ ...c, num_hidden_layers: 1e9 }), /config\.json: number of layers 1000000000 must be an integer from 1 to 1024/],
    ['heads not dividing hidden', TINY, (c) => ({ ...c, num_attention_heads: 5 }), /config\.json: number of heads 5 does not divide the hidden size 96/],
    ['0 heads', TINY, (c) => ({ ...c, num_attention_heads: 0 }), /config\.json: number of heads 0 must be an integer/],
    ['crop_pct 0', TIMM, (c) => ({ ...c, pretrained_cfg: { ...(c.pretrained_cfg as object), crop_pct: 0 } }), /config\.json: crop_pct 0 must be in \(0, 4\]/],
  ];
  for (const [what, from, edit, re] of cases) {
    it(`${what}: one set-up error naming config.json, exit 2`, async () => {
      const m = modelCopy(from);
      writeFileSync(join(m, 'config.json'), JSON.stringify(edit(JSON.parse(readFileSync(join(m, 'config.json'), 'utf8')))));
      const t0 = performance.now();
      const r = await vit(['classify', join(dir, 'coffee.png'), join(dir, 'chelsea.png'), '--model', m, '--format', 'jsonl']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toContain(join(m, 'config.json'));
      expect(performance.now() - t0).toBeLessThan(20_000);
    });
  }

  it('a config.json over 1 MB is refused before it is read', async () => {
    const m = modelCopy();
    const c = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8'));
    writeFileSync(join(m, 'config.json'), JSON.stringify({ ...c, padding: 'x'.repeat(2 << 20) }));
    const r = await vit(['inspect', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config\.json: \d+ bytes, more than the 1048576-byte limit/);
  });
});

describe('7. ambiguous safetensors headers', () => {
  it('a tensor key that appears twice is refused, naming the file and the key', async () => {
    const m = modelCopy();
    const file = join(m, 'model.safetensors');
    const h = header(file);
    const b = readFileSync(file);
    // The same key again with another tensor's (same-shaped) bytes: JSON.parse alone would keep the second.
    const e = h.json['vit.layernorm.bias']!;
    const other = h.json['vit.layernorm.weight']!;
    const text = h.text.replace(/}\s*$/, `,"vit.layernorm.bias":${JSON.stringify({ ...e, data_offsets: other.data_offsets })}}`);
    const padded = text + ' '.repeat((8 - (text.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    writeFileSync(file, Buffer.concat([len, Buffer.from(padded), b.subarray(h.dataStart)]));
    const r = await vit(['classify', join(dir, 'coffee.png'), '--model', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: header is ambiguous: key "vit.layernorm.bias" appears twice`);
  });
});

describe('10. exit codes', () => {
  it('usage errors exit 2 in every subcommand; --help exits 0', async () => {
    for (const args of [['classify', dir, '--no-such-flag'], ['inspect'], ['compare', '--model', TINY], ['bench', '--workers', 'x'], ['nope']]) {
      const r = await vit(args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect((await vit(['classify', '--help'])).code).toBe(0);
  });

  it('SIGTERM finishes the batches in flight, writes them and exits 143', async () => {
    const many = mkdtempSync(join(tmpdir(), 'vit-sigterm-'));
    for (let i = 0; i < 200; i++) copyFileSync(join(PHOTOS, 'HappyFish.jpg'), join(many, `img${String(i).padStart(3, '0')}.jpg`));
    let sent = false;
    const r = await vit(['classify', many, '--model', TINY, '--workers', '1', '--batch-size', '2', '--format', 'jsonl'], {
      onStdout: (_all, kill) => {
        if (!sent) kill('SIGTERM');
        sent = true;
      },
    });
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/interrupted \(SIGTERM\)/);
    const lines = jsonl(r.stdout);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(200);
    expect(lines.every((l) => l.top?.length === 5)).toBe(true);
  });

  it('embed: SIGINT finishes the batches in flight, writes them (provenance first) and exits 130', async () => {
    const many = mkdtempSync(join(tmpdir(), 'vit-sigint-embed-'));
    for (let i = 0; i < 200; i++) copyFileSync(join(PHOTOS, 'HappyFish.jpg'), join(many, `img${String(i).padStart(3, '0')}.jpg`));
    let sent = false;
    const r = await vit(['embed', many, '--model', TINY, '--workers', '1', '--batch-size', '2'], {
      onStdout: (all, kill) => {
        if (!sent && all.split('\n').length > 2) {
          kill('SIGINT');
          sent = true;
        }
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\)/);
    const [prov, ...records] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { provenance?: unknown; file?: string; embedding?: number[] });
    expect(prov!.provenance).toBeDefined();
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThan(200);
    expect(records.map((x) => x.file)).toEqual(records.map((_, i) => `img${String(i).padStart(3, '0')}.jpg`));
    expect(records.every((x) => x.embedding?.length === 96)).toBe(true); // hf-tiny: hidden size 96
  });

  it('SIGTERM during bench exits 143', async () => {
    const child = spawn('node', [CLI, 'bench', '--model', TINY, '--iterations', '100000']);
    setTimeout(() => child.kill('SIGTERM'), 1500);
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(code).toBe(143);
  });
});

describe('11. table output', () => {
  it('names with a tab or a newline are escaped: one line per record', async () => {
    const d = mkdtempSync(join(tmpdir(), 'vit-names-'));
    const odd = 'tab\there\nnew\\line.png';
    copyFileSync(join(dir, 'coffee.png'), join(d, odd));
    copyFileSync(join(dir, 'chelsea.png'), join(d, 'plain.png'));
    const r = await vit(['classify', d, '--model', TINY, '--top-k', '1']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.split('\t')[0])).toEqual(['plain.png', 'tab\\there\\nnew\\\\line.png']);
    expect(lines[1]!.split('\t')).toHaveLength(2);
    expect(escapeTable(odd)).toBe('tab\\there\\nnew\\\\line.png');
  });
});

describe('12. symlinked shards out of the model directory', () => {
  it('are loaded, and vit inspect says so', async () => {
    const m = modelCopy(SHARDED);
    const elsewhere = mkdtempSync(join(tmpdir(), 'vit-elsewhere-'));
    const shard = 'model-00003-of-00007.safetensors';
    renameSync(join(m, shard), join(elsewhere, shard));
    symlinkSync(join(elsewhere, shard), join(m, shard));
    const i = await vit(['inspect', m]);
    expect(i.code).toBe(0);
    expect(i.stdout).toContain(`link        ${shard} -> ${join(elsewhere, shard)} (a symlink out of the model directory: loaded as is)`);
    const plain = await vit(['inspect', SHARDED]);
    expect(plain.stdout).not.toMatch(/^link/m);
    const c = await vit(['classify', join(dir, 'coffee.png'), '--model', m, '--format', 'jsonl']);
    expect(c.code).toBe(0);
  });
});
