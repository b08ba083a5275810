/**
 * How the built `vit` binary behaves around its work (issue 13): the progress bar and the records on one
 * terminal (run on a pseudo-terminal by util-linux `script`), model paths versus hub ids, usage errors, a reader
 * that goes away, missing inputs, `inspect random:`, PyTorch-only checkpoints, symlinked directories, and bench
 * sweeps with a failing backend and HxW sizes.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomModel } from '../loaders/random.js';
import { parameterCount } from '../model/weights.js';
import { CLI, run, vit } from './helpers/cli.js';
import { MODELS, PHOTOS } from './helpers/paths.js';

const TINY = join(MODELS, 'hf-tiny');
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The lines a terminal shows after this output: \r returns, ESC[2K clears the line, other escapes are ignored. */
function screen(raw: string): string[] {
  const lines: string[][] = [[]];
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    const line = lines[lines.length - 1]!;
    if (c === '\x1b') {
      const m = /^\x1b\[[?0-9;]*[A-Za-z]/.exec(raw.slice(i));
      if (m && m[0] === '\x1b[2K') line.length = 0;
      i += (m?.[0].length ?? 1) - 1;
    } else if (c === '\r') col = 0;
    else if (c === '\n') {
      lines.push([]);
      col = 0;
    } else {
      line[col++] = c;
    }
  }
  return lines.map((l) => Array.from(l, (c) => c ?? ' ').join(''));
}

let photos: string;
beforeAll(() => {
  photos = mkdtempSync(join(tmpdir(), 'vit-cli-'));
  for (const f of ['apple.jpg', 'chelsea.png', 'coffee.png', 'orange.jpg', 'HappyFish.jpg', 'baboon.jpg']) copyFileSync(join(PHOTOS, f), join(photos, f));
});

describe.skipIf(!HAS_SCRIPT)('2. the progress bar and the records on one terminal', () => {
  it.each(['classify', 'embed'])('%s: every record whole on its own line, the bar never glued to one, the summary last, no 0/0 frame', async (cmd) => {
    const args = [cmd, photos, '--model', TINY, '--workers', '1', '--batch-size', '1', ...(cmd === 'classify' ? ['--top-k', '2'] : [])];
    const piped = await vit([...args, '--no-progress']);
    // embed's provenance line carries its creation time: the other records are compared.
    const records = piped.stdout.trim().split('\n').filter((l) => !l.startsWith('{"provenance"'));
    expect(records).toHaveLength(6);
    const tty = await run('script', ['-qfec', ['node', CLI, ...args].map(shellQuote).join(' '), '/dev/null'], { env: { COLUMNS: '200' } });
    expect(tty.code, tty.stdout).toBe(0);
    const raw = tty.stdout;
    // A bar was drawn (this is a terminal), and its first frame knows the total or says it is counting.
    const frames = raw.split(/\r|\x1b\[2K/).filter((f) => / images? /.test(f));
    expect(frames.length).toBeGreaterThan(0);
    expect(frames[0]).toMatch(/counting|\/6 images/);
    expect(raw).not.toMatch(/\b0\/0 images/);
    const shown = screen(raw).filter((l) => l.trim() !== '');
    for (const r of records) expect(shown.filter((l) => l === r), r.slice(0, 60)).toHaveLength(1);
    for (const l of shown) expect(l.includes('img/s') && (l.includes('\t') || l.startsWith('{')), l.slice(0, 80)).toBe(false);
    expect(shown[shown.length - 1]).toMatch(/^vit: 6\/6 (classified|embedded), 0 failed/);
  });
});

describe('3. model paths and hub ids', () => {
  it('a missing path is said to be missing, never sent to the hub; models/nope counts as a path when models/ exists', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'vit-paths-'));
    mkdirSync(join(cwd, 'models'));
    const env = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(cwd, 'cache'), VIT_HUB_RETRIES: '0' };
    for (const spec of ['models/nope', './nope', '../nope/x', 'a/b/c']) {
      const r = await vit(['classify', join(PHOTOS, 'apple.jpg'), '--model', spec], { cwd, env });
      expect(r.code, spec).toBe(2);
      expect(r.stderr, spec).toContain(`no such directory or file: ${spec}`);
      expect(r.stderr, spec).not.toMatch(/resolving|Hugging Face Hub at/);
    }
  });

  it('an org/name without such a local path is resolved on the hub, saying so on stderr', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'vit-hub-'));
    const env = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(cwd, 'cache'), VIT_HUB_RETRIES: '0' };
    const r = await vit(['classify', join(PHOTOS, 'apple.jpg'), '--model', 'nobody/nothing'], { cwd, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vit: resolving nobody/nothing on http://127.0.0.1:9\n');
    const i = await vit(['inspect', 'nobody/nothing@v1'], { cwd, env });
    expect(i.stderr).toContain('vit: resolving nobody/nothing@v1 on http://127.0.0.1:9\n');
  });
});

describe('4. usage errors, closed pipes, missing inputs, inspect random:, PyTorch checkpoints, symlinked folders', () => {
  it.each([
    [['classify'], 'classify', /missing required argument 'paths'/],
    [['classify', 'x.jpg', '--workers', '0'], 'classify', /--workers must be a positive integer/],
    [['embed', 'x.jpg', '--pool', 'max'], 'embed', /argument 'max' is invalid/],
    [['bench', '--image-size', '224y320'], 'bench', /--image-size takes sizes N or HxW/],
    [['nope'], '', /unknown command 'nope'/],
  ])('%j: one line of reason, then the hint, exit 2', async (args, cmd, re) => {
    const r = await vit(args as string[]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(re);
    expect(lines[1]).toBe(`see 'vit ${cmd ? `${cmd} ` : ''}--help'`);
  });

  it('| head -1: the first record, then a quiet exit 0 (EPIPE)', async () => {
    const many = mkdtempSync(join(tmpdir(), 'vit-epipe-'));
    for (let i = 0; i < 60; i++) copyFileSync(join(PHOTOS, 'HappyFish.jpg'), join(many, `img${String(i).padStart(2, '0')}.jpg`));
    const cmd = `set -o pipefail; node ${shellQuote(CLI)} classify ${shellQuote(many)} --model ${shellQuote(TINY)} --workers 1 --batch-size 1 --format jsonl --backend wasm | head -1`;
    const r = await run('bash', ['-c', cmd]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout).file).toBe('img00.jpg');
    expect(r.stderr).toBe('');
  });

  it('a missing input is reported before the model loads', async () => {
    const env = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: photos, VIT_HUB_RETRIES: '0' };
    const r = await vit(['classify', join(photos, 'apple.jpg'), join(photos, 'gone.jpg'), '--model', 'org/model'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`vit: no such file or directory: ${join(photos, 'gone.jpg')}\n`);
  });

  it('inspect random:<arch> prints the architecture and the parameter count of the weights it would make', async () => {
    const spec = 'random:vit-tiny-patch16-224';
    const r = await vit(['inspect', spec, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { parameters: number; config: { hiddenSize: number; numLayers: number } };
    const m = randomModel(spec);
    expect(info.parameters).toBe(parameterCount(m.weights));
    expect(info.config).toMatchObject({ hiddenSize: m.config.hiddenSize, numLayers: m.config.numLayers });
    expect((await vit(['inspect', spec])).stdout).toMatch(/^path +random:vit-tiny-patch16-224 \(random weights/);
  });

  it('a pytorch_model.bin or .pth checkpoint gets the conversion one-liner', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'vit-bin-'));
    copyFileSync(join(TINY, 'config.json'), join(bin, 'config.json'));
    writeFileSync(join(bin, 'pytorch_model.bin'), 'pickle');
    const pth = mkdtempSync(join(tmpdir(), 'vit-pth-'));
    writeFileSync(join(pth, 'vit_small.pth'), 'pickle');
    for (const [dir, file] of [[bin, 'pytorch_model.bin'], [pth, 'vit_small.pth']]) {
      const r = await vit(['classify', join(PHOTOS, 'apple.jpg'), '--model', dir!]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`python -c "from safetensors.torch import save_file; import torch; save_file(torch.load('${file}'), 'model.safetensors')"`);
    }
  });

  it('symlinked directories are followed; a loop is reported once and not followed', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vit-links-'));
    mkdirSync(join(root, 'a'));
    copyFileSync(join(PHOTOS, 'apple.jpg'), join(root, 'a', 'x.jpg'));
    symlinkSync('a', join(root, 'b')); // a second name for a/
    symlinkSync('..', join(root, 'a', 'up')); // a/up -> root: a loop, also reached as b/up
    const r = await vit(['classify', root, '--model', TINY, '--workers', '1', '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { file: string }).file)).toEqual(['a/x.jpg', 'b/x.jpg']);
    expect(r.stderr.match(/symlink loop/g)).toHaveLength(1);
    expect(r.stderr).toContain(`vit: ${join(root, 'a', 'up')}: symlink loop (leads back to ${root}), not followed`);
  });
});

describe('5. bench: a failing backend keeps the other results', () => {
  const base = ['bench', '--model', join(MODELS, 'timm-tiny'), '--backend', 'wasm,tensorflow', '--image-size', '224x320', '--batch-size', '1', '--warmup', '0', '--iterations', '1'];

  it('json: the wasm row measured at 224x320, the tensorflow row with its error; exit 1', async () => {
    const r = await vit([...base, '--format', 'json']);
    expect(r.code).toBe(1);
    const rows = (JSON.parse(r.stdout) as { results: { backend: string; imageSize: number; imageWidth?: number; imagesPerSecond?: number; error?: string }[] }).results;
    expect(rows.map((x) => x.backend)).toEqual(['wasm', 'tensorflow']);
    expect(rows[0]).toMatchObject({ imageSize: 224, imageWidth: 320 });
    expect(rows[0]!.error).toBeUndefined();
    expect(rows[0]!.imagesPerSecond).toBeGreaterThan(0);
    expect(rows[1]!.error).toMatch(/needs @tensorflow\/tfjs-node/);
    expect(rows[1]!.imagesPerSecond).toBeUndefined();
    expect(r.stderr).toMatch(/bench: 1 of 2 combinations failed/);
  });

  it('table, csv and the HTML report show the failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vit-bench-fail-'));
    const t = await vit([...base, '--report', join(dir, 'r.html')]);
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/tensorflow +model +224x320 .*FAILED .*needs @tensorflow\/tfjs-node/);
    expect(t.stdout).toMatch(/wasm +model +224x320 +1 +1 +\d/);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(dir, 'r.html'), 'utf8')).toContain('needs @tensorflow/tfjs-node');
    const c = await vit([...base, '--format', 'csv']);
    const [head, ...rows] = c.stdout.trim().split(/\r?\n/);
    expect(head!.split(',').at(-1)).toBe('error');
    expect(rows.find((x) => x.includes(',tensorflow,'))).toMatch(/tfjs-node/);
    expect(rows.find((x) => x.includes(',wasm,'))!.endsWith(',')).toBe(true);
  });
});
