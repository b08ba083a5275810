/** The bench harness, not benchmarks: output shapes, arguments and errors, on a tiny model, quickly. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { percentile } from '../bench/run.js';
import { defaultCpuBackend } from '../engine/session.js';

const run = promisify(execFile);
const CLI = 'dist/cli/vit.js';
const TINY = 'test/fixtures/models/timm-tiny';

/** Hooks that make auto find no GPU, so its choice is the default CPU backend on any machine. */
const NO_GPU = { VIT_LIBCUDA: '/nonexistent/libcuda.so.1', VIT_TEST_WEBGPU_ADAPTER: 'none' };

async function bench(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [CLI, 'bench', ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('vit bench', () => {
  it('--format json: environment and one result per combination, with the documented fields', async () => {
    const r = await bench(['--model', TINY, '--workers', '1,2', '--batch-size', '2', '--image-size', '224,256', '--warmup', '0', '--iterations', '1', '--format', 'json'], NO_GPU);
    expect(r.code).toBe(0);
    // No --backend: auto, which without a GPU takes the default CPU backend (onnx with onnxruntime-node, else wasm).
    const backend = await defaultCpuBackend();
    expect(r.stderr).toContain(`vit: backend auto -> ${backend} (cuda: libcuda.so.1 not found; webgpu: no WebGPU adapter)`);
    const rep = JSON.parse(r.stdout) as { environment: Record<string, unknown>; results: Record<string, unknown>[] };
    expect(rep.environment).toMatchObject({ cores: expect.any(Number), node: process.version, model: TINY });
    expect(Object.keys(rep.environment.packages as object)).toContain('@tensorflow/tfjs-core');
    expect(rep.results.map((x) => [x.workers, x.imageSize])).toEqual([[1, 224], [2, 224], [1, 256], [2, 256]]);
    for (const x of rep.results) {
      expect(x).toMatchObject({ backend, requested: 'auto', batchSize: 2, mode: 'model', imagesPerSecond: expect.any(Number), peakRssMB: expect.any(Number) });
      const l = x.latencyMs as { p50: number; p95: number; p99: number };
      expect(l.p50).toBeGreaterThan(0);
      expect(l.p50).toBeLessThanOrEqual(l.p95);
      expect(l.p95).toBeLessThanOrEqual(l.p99);
      // one timed batch per lane, one lane per CPU worker
      expect(x.images).toBe(2 * (x.workers as number));
    }
    expect(r.stderr).toMatch(new RegExp(`bench: ${backend} model 256px batch 2 workers 2: [\\d.]+ img/s`));
  });

  it('--in-flight sets the lanes: one batch at a time across two workers, said in the row', async () => {
    const r = await bench(['--model', TINY, '--workers', '2', '--batch-size', '2', '--in-flight', '1', '--warmup', '0', '--iterations', '3', '--format', 'json'], NO_GPU);
    expect(r.code).toBe(0);
    const [x] = (JSON.parse(r.stdout) as { results: Record<string, unknown>[] }).results;
    expect(x).toMatchObject({ workers: 2, inFlight: 1, iterations: 3, images: 6 });
  });

  it('end-to-end mode reads images; csv, --output and an HTML report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vit-bench-'));
    const r = await bench(['--model', TINY, '--mode', 'end-to-end', '--images', 'test/photos', '--batch-size', '3', '--warmup', '0', '--iterations', '1', '--format', 'csv', '--output', join(dir, 'out.csv'), '--report', join(dir, 'r.html')]);
    expect(r.code).toBe(0);
    const csv = readFileSync(join(dir, 'out.csv'), 'utf8').trim().split(/\r?\n/);
    expect(csv).toHaveLength(2);
    expect(csv[1]).toContain('end-to-end');
    expect(readFileSync(join(dir, 'r.html'), 'utf8')).toContain('<canvas');
  });

  it.each([
    [['--mode', 'end-to-end'], /--mode end-to-end needs --images DIR/],
    [['--backend', 'wasm,nope'], /unknown backend "nope"/],
    [['--workers', '0'], /--workers takes positive integers/],
    [['--image-size', '230'], /not a positive multiple of the patch size 16/],
    [['--mode', 'end-to-end', '--images', 'test/fixtures/models'], /no image files found/],
  ])('%j is refused with a clear message', async (args, re) => {
    const r = await bench(['--model', TINY, '--iterations', '1', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(re);
  });

  it('percentiles are nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)]).toEqual([50, 95, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});
