/**
 * `vit classify` end to end through the built CLI (dist/cli/vit.js), on real photos (test/photos: Debian
 * python3-skimage and opencv-doc) with the real DeiT-tiny from ../shared, plus three bad files.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEIT_TINY, MODELS, REPO, sharedModel } from './helpers/paths.js';

const run = promisify(execFile);
const CLI = join(REPO, 'dist/cli/vit.js');
const DEIT = sharedModel(DEIT_TINY, 'real-photo classification');
const TINY = join(MODELS, 'hf-tiny');

/** Ground truth for the clear photos (ImageNet-1k indices). */
const TRUTH: Record<string, number[]> = {
  'chelsea.png': [281, 282, 285], // tabby, tiger cat, Egyptian cat
  'coffee.png': [967], // espresso
  'sub/squirrel_cls.jpg': [335], // fox squirrel
  'sub/deeper/orange.jpg': [950], // orange
  // opencv's "baboon" is a mandrill's face, not an ImageNet class: any primate (365 orangutan .. 384 indri) is right.
  'baboon.jpg': Array.from({ length: 20 }, (_, i) => 365 + i),
};
const BAD = ['truncated.jpg', 'not-an-image.jpg', 'empty.png'];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vit-classify-'));
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  copyFileSync('test/photos/chelsea.png', join(dir, 'chelsea.png'));
  copyFileSync('test/photos/coffee.png', join(dir, 'coffee.png'));
  copyFileSync('test/photos/baboon.jpg', join(dir, 'baboon.jpg'));
  copyFileSync('test/photos/squirrel_cls.jpg', join(dir, 'sub', 'squirrel_cls.jpg'));
  copyFileSync('test/photos/orange.jpg', join(dir, 'sub', 'deeper', 'orange.jpg'));
  const jpg = readFileSync('test/photos/HappyFish.jpg');
  writeFileSync(join(dir, 'truncated.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
  writeFileSync(join(dir, 'not-an-image.jpg'), 'this is a text file, not a JPEG\n');
  writeFileSync(join(dir, 'empty.png'), '');
  writeFileSync(join(dir, 'notes.txt'), 'not an image extension: skipped when walking a directory\n');
});

interface Line {
  file: string;
  top?: { index: number; label?: string; score: number }[];
  error?: string;
}

async function classify(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; lines: Line[]; stderr: string }> {
  try {
    const r = await run('node', [CLI, 'classify', ...args, '--format', 'jsonl'], { env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
    return { code: 0, lines: r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line), stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    const out = err.stdout.trim();
    return { code: err.code, lines: out ? out.split('\n').map((l) => JSON.parse(l) as Line) : [], stderr: err.stderr };
  }
}

const expectedOrder = ['baboon.jpg', 'chelsea.png', 'coffee.png', 'empty.png', 'not-an-image.jpg', 'truncated.jpg', 'sub/squirrel_cls.jpg', 'sub/deeper/orange.jpg'];

describe.skipIf(!DEIT)('classify a folder with the real DeiT-tiny', () => {
  it('one line per input in order, right labels, errors for the bad files, non-zero exit, same with 1 and 2 workers', async () => {
    const one = await classify([dir, '--model', DEIT!, '--workers', '1', '--batch-size', '3']);
    const two = await classify([dir, '--model', DEIT!, '--workers', '2', '--batch-size', '3']);
    expect(one.code).toBe(1);
    expect(two.code).toBe(1);
    expect(one.lines.map((l) => l.file)).toEqual(expectedOrder);
    expect(two.lines).toEqual(one.lines);
    for (const l of one.lines) {
      const name = l.file;
      if (BAD.includes(name)) {
        expect(l.error, name).toMatch(new RegExp(name.replace('.', '\\.')));
        expect(l.top).toBeUndefined();
      } else {
        expect(l.top).toHaveLength(5);
        expect(TRUTH[name], `top-1 of ${name}: ${l.top![0]!.index} ${l.top![0]!.label}`).toContain(l.top![0]!.index);
      }
    }
    expect(one.stderr).toMatch(/5\/8 classified, 3 failed/);
  });

  it('at --image-size 384 the clear photos keep their labels', async () => {
    const r = await classify([dir, '--model', DEIT!, '--image-size', '384', '--workers', '2', '--batch-size', '4']);
    // orange.jpg is not clear-cut for DeiT-tiny (orange 0.50 vs lemon 0.21 at 224; a near tie at 384, where
    // timm's own 384 run agrees with ours: test/fixtures/deit-tiny-orange-384.safetensors), so it is left out here.
    const clear = r.lines.filter((x) => x.top && x.file !== 'sub/deeper/orange.jpg');
    expect(clear).toHaveLength(4);
    for (const l of clear) expect(TRUTH[l.file], `${l.file} at 384: ${l.top![0]!.label}`).toContain(l.top![0]!.index);
  });
});

describe('faults', () => {
  it('a worker that dies is replaced; its batch is bisected, so only the file that kills it fails; the rest goes on', async () => {
    const r = await classify([dir, '--model', TINY, '--workers', '2', '--batch-size', '4'], { VIT_TEST_WORKER_CRASH_MARKER: 'coffee' });
    expect(r.lines.map((l) => l.file)).toEqual(expectedOrder);
    const coffee = r.lines.find((l) => l.file === 'coffee.png')!;
    expect(coffee.error).toMatch(/worker failed twice on this file alone/);
    // baboon and chelsea share coffee's batch of 4 (with empty.png): they are classified all the same.
    expect(r.lines.find((l) => l.file === 'baboon.jpg')!.top).toHaveLength(5);
    expect(r.lines.find((l) => l.file === 'chelsea.png')!.top).toHaveLength(5);
    expect(r.lines.filter((l) => l.top)).toHaveLength(4);
    expect(r.code).toBe(1);
  });

  it('a missing file named on the command line is refused before the model loads (exit 2, no records)', async () => {
    const r = await classify([join(dir, 'chelsea.png'), join(dir, 'missing.jpg'), '--model', TINY, '--workers', '1']);
    expect(r.lines).toHaveLength(0);
    expect(r.stderr).toContain(`no such file or directory: ${join(dir, 'missing.jpg')}`);
    expect(r.code).toBe(2);
  });

  it('exit code 0 when every input is classified; table and csv formats', async () => {
    const r = await run('node', [CLI, 'classify', join(dir, 'sub'), '--model', TINY, '--format', 'csv', '--top-k', '2']);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toBe('file,rank,index,label,score,error');
    expect(rows.slice(1).map((x) => x.split(',')[0])).toEqual(['squirrel_cls.jpg', 'squirrel_cls.jpg', 'deeper/orange.jpg', 'deeper/orange.jpg']);
    const t = await run('node', [CLI, 'classify', join(dir, 'coffee.png'), '--model', TINY, '--format', 'table', '--top-k', '1']);
    expect(t.stdout).toMatch(/coffee\.png\thf-class-\d \(\d\) 0\.\d{4}/);
  });

  it('a backend that cannot start fails once, clearly, before any input', async () => {
    const r = await classify([dir, '--model', TINY, '--backend', 'tensorflow']);
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(0);
    expect(r.stderr).toMatch(/backend "tensorflow" needs @tensorflow\/tfjs-node/);
  });

  it('refuses bad counts and an unwritable --output up front', async () => {
    const bad = await classify([dir, '--model', TINY, '--batch-size', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--batch-size must be a positive integer/);
    const out = await classify([dir, '--model', TINY, '--output', join(dir, 'no-such-dir', 'out.jsonl')]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--output .*no-such-dir.*ENOENT/);
  });

  it('several roots keep names unique; a .safetensors file works as --model', async () => {
    const r = await classify([join(dir, 'sub'), join(dir, 'sub', 'deeper'), '--model', `${TINY}/model.safetensors`]);
    expect(r.code).toBe(0);
    expect(r.lines.map((l) => l.file)).toEqual([
      join(dir, 'sub', 'squirrel_cls.jpg'),
      join(dir, 'sub', 'deeper', 'orange.jpg'),
      join(dir, 'sub', 'deeper', 'orange.jpg'),
    ]);
  });

  it('Ctrl-C finishes the batches in flight, writes them in order and exits 130', async () => {
    const many = mkdtempSync(join(tmpdir(), 'vit-sigint-'));
    for (let i = 0; i < 400; i++) copyFileSync('test/photos/HappyFish.jpg', join(many, `img${String(i).padStart(3, '0')}.jpg`));
    const child = spawn('node', [CLI, 'classify', many, '--model', TINY, '--workers', '1', '--batch-size', '2', '--format', 'jsonl']);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        const first = stdout === '';
        stdout += d;
        if (first) child.kill('SIGINT');
      });
      child.on('close', resolve);
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(400);
    expect(lines.map((l) => l.file)).toEqual(lines.map((_, i) => `img${String(i).padStart(3, '0')}.jpg`));
    expect(lines.every((l) => l.top?.length === 5)).toBe(true);
  });
});
