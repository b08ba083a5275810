/**
 * `--backend auto`: the fixed order (cuda, webgpu on a hardware adapter, the best CPU backend), the fallback when
 * a probe or a start fails, the one stderr line, a named backend that cannot start (exit 2 with its reason and
 * hint), and the choice recorded in embed provenance, bench rows and the pipeline. Hooks: VIT_LIBCUDA=/nonexistent
 * makes cuda fail; VIT_TEST_WEBGPU_ADAPTER=none makes the adapter request find nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { autoLine, briefReason, startAuto, type AutoProbes } from '../engine/auto.js';
import { createSession, defaultCpuBackend } from '../engine/session.js';
import type { BackendName } from '../engine/types.js';
import { softwareRenderer } from '../engine/webgpu/device.js';
import { tinyRandomModel } from '../model/random.js';
import { pipeline } from '../pipeline/index.js';
import { exitOf, vit as runVit } from './helpers/cli.js';
import { MODELS, PHOTOS } from './helpers/paths.js';

const MODEL = join(MODELS, 'timm-tiny');
const NO_GPU = { VIT_LIBCUDA: '/nonexistent/libcuda.so.1', VIT_TEST_WEBGPU_ADAPTER: 'none' };
/** Makes onnxruntime-node fail to load, as on an install without it. */
const NO_ORT = { VIT_TEST_ONNXRUNTIME_MODULE: 'onnxruntime-node-not-installed' };
/** What auto takes without a GPU: the default CPU backend (onnx where onnxruntime-node loads, else wasm). */
const CPU = await defaultCpuBackend();

/** `vit ...args` with extra environment variables. */
const vit = (args: string[], env: NodeJS.ProcessEnv = {}) => runVit(args, { env });

/** Probes that answer as told, and a start that records the order it was asked in. */
function fake(p: { cuda?: string; webgpu?: string; cpu?: BackendName }, failing: Record<string, string> = {}) {
  const tried: string[] = [];
  const probes: AutoProbes = { cuda: async () => p.cuda, webgpu: async () => p.webgpu, cpu: async () => p.cpu ?? 'wasm' };
  const start = async (b: BackendName) => {
    tried.push(b);
    if (failing[b]) throw new Error(failing[b]);
    return `session:${b}`;
  };
  return { tried, probes, start };
}

describe('auto order', () => {
  it('takes cuda first when its probe and start succeed', async () => {
    const f = fake({});
    const r = await startAuto(f.start, f.probes);
    expect(r.value).toBe('session:cuda');
    expect(r.choice).toEqual({ requested: 'auto', backend: 'cuda', skipped: [] });
    expect(f.tried).toEqual(['cuda']);
    expect(autoLine(r.choice)).toBe('backend auto -> cuda');
  });

  it('skips cuda on a failed probe and webgpu on a software adapter, falling to the CPU backend', async () => {
    const f = fake({ cuda: 'cuda backend: cannot load the NVIDIA driver library libcuda.so.1; install the NVIDIA driver', webgpu: 'software adapter llvmpipe' });
    const r = await startAuto(f.start, f.probes);
    expect(f.tried).toEqual(['wasm']);
    expect(autoLine(r.choice)).toBe('backend auto -> wasm (cuda: libcuda.so.1 not found; webgpu: software adapter llvmpipe)');
  });

  it('a GPU backend that fails to start falls through with its reason', async () => {
    const f = fake({ cuda: 'no device' }, { webgpu: 'engine/webgpu: device lost (unknown: boom) during plan' });
    const r = await startAuto(f.start, f.probes);
    expect(f.tried).toEqual(['webgpu', 'wasm']);
    expect(r.choice.backend).toBe('wasm');
    expect(r.choice.skipped).toEqual([
      { backend: 'cuda', reason: 'no device' },
      { backend: 'webgpu', reason: 'failed to start: device lost' },
    ]);
  });

  it('an installed CPU backend other than wasm is tried before wasm, and wasm is the last resort', async () => {
    const f = fake({ cuda: 'x', webgpu: 'y', cpu: 'onnx' as BackendName }, { onnx: 'onnx failed to start' });
    const r = await startAuto(f.start, f.probes);
    expect(f.tried).toEqual(['onnx', 'wasm']);
    expect(r.choice.skipped.map((s) => s.backend)).toEqual(['cuda', 'webgpu', 'onnx']);
    const g = fake({ cuda: 'x', webgpu: 'y' }, { wasm: 'wasm broken' });
    await expect(startAuto(g.start, g.probes)).rejects.toThrow('wasm broken');
  });

  it('tells software renderers from hardware adapters by their adapter info', () => {
    expect(softwareRenderer({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' })).toBe('llvmpipe');
    expect(softwareRenderer({ vendor: 'google', architecture: '', device: '', description: 'SwiftShader Device (Subzero)' })).toBe('swiftshader');
    expect(softwareRenderer({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' })).toBeUndefined();
    expect(softwareRenderer({ vendor: 'x', description: 'Some adapter' }, true)).toBe('Some adapter');
  });

  it('briefReason cuts a reason to its first clause', () => {
    expect(briefReason('cuda backend: cannot load NVRTC (libnvrtc.so); install a CUDA 12/13 toolkit. Tried: libnvrtc.so.13: nope')).toBe('libnvrtc.so not found');
    expect(briefReason('no WebGPU adapter: needs a GPU with Vulkan (libvulkan1) and its driver: libvulkan.so.1 not found (apt-get install libvulkan1)')).toBe('libvulkan.so.1 not found');
    expect(briefReason('the driver reports no CUDA device')).toBe('the driver reports no CUDA device');
  });

  it("createSession(model, 'auto') starts the first backend that works (hooks make both GPUs fail)", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, NO_GPU);
    try {
      const s = await createSession(tinyRandomModel(), 'auto');
      expect(s.backend).toBe(CPU);
      await s.dispose();
    } finally {
      for (const k of Object.keys(NO_GPU)) if (saved[k] === undefined) delete process.env[k];
    }
  });
});

describe('auto through the CLI and the pipeline', () => {
  it('classify without --backend says what it chose and why; the records are those of the backend named', async () => {
    const auto = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--format', 'jsonl', '--workers', '1'], NO_GPU);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toMatch(new RegExp(`^vit: backend auto -> ${CPU} \\(cuda: libcuda\\.so\\.1 not found; webgpu: no WebGPU adapter\\)$`, 'm'));
    const named = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--format', 'jsonl', '--workers', '1', '--backend', CPU], NO_GPU);
    expect(named.stderr).not.toMatch(/backend auto/);
    expect(auto.stdout).toBe(named.stdout);
  }, 60_000);

  it('without onnxruntime-node auto falls to wasm; the records are those of --backend wasm', async () => {
    const auto = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--format', 'jsonl', '--workers', '1'], { ...NO_GPU, ...NO_ORT });
    expect(auto.code).toBe(0);
    expect(auto.stderr).toMatch(/^vit: backend auto -> wasm \(cuda: libcuda\.so\.1 not found; webgpu: no WebGPU adapter\)$/m);
    const wasm = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--format', 'jsonl', '--workers', '1', '--backend', 'wasm'], NO_GPU);
    expect(auto.stdout).toBe(wasm.stdout);
  }, 60_000);

  it('a backend named explicitly that cannot start is a set-up error (exit 2) with its reason and hint', async () => {
    const cuda = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--backend', 'cuda'], NO_GPU);
    expect(exitOf(cuda)).toBe(2);
    expect(cuda.stderr).toMatch(/cannot load the NVIDIA driver library libcuda\.so\.1; install the NVIDIA driver/);
    expect(cuda.stderr).toMatch(/\/nonexistent\/libcuda\.so\.1/);
    const webgpu = await vit(['classify', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--backend', 'webgpu'], NO_GPU);
    expect(exitOf(webgpu)).toBe(2);
    expect(webgpu.stderr).toMatch(/no WebGPU adapter: needs a GPU with Vulkan/);
    expect(webgpu.stdout).toBe('');
  }, 60_000);

  it('embed records the chosen backend and requested: auto in its provenance', async () => {
    const r = await vit(['embed', join(PHOTOS, 'chelsea.png'), '--model', MODEL, '--workers', '1'], NO_GPU);
    expect(r.code).toBe(0);
    const prov = (JSON.parse(r.stdout.split('\n')[0]!) as { provenance: Record<string, unknown> }).provenance;
    expect(prov).toMatchObject({ backend: CPU, requested: 'auto', precision: 'fp32' });
    expect(r.stderr).toContain(`backend auto -> ${CPU}`);
  }, 60_000);

  it('bench rows carry the chosen backend and requested: auto', async () => {
    const r = await vit(['bench', '--model', 'random:vit-tiny-patch16-224', '--batch-size', '1', '--iterations', '1', '--warmup', '0', '--format', 'json'], NO_GPU);
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.stdout) as { results: Record<string, unknown>[] }).results;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ backend: CPU, requested: 'auto' });
    expect(r.stderr.split(`backend auto -> ${CPU}`)).toHaveLength(2);
  }, 120_000);

  it('the pipeline defaults to auto and exposes the choice and the provenance', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, NO_GPU);
    try {
      const embed = await pipeline('image-feature-extraction', MODEL, { workers: 1, pool: 'mean' });
      try {
        expect(embed.backend).toBe(CPU);
        expect(embed.backendChoice?.skipped.map((s) => s.backend)).toEqual(['cuda', 'webgpu']);
        expect(embed.provenance).toMatchObject({ model: MODEL, backend: CPU, requested: 'auto', pool: 'mean', normalize: false, dim: embed.dim, precision: 'fp32' });
        expect(Object.keys(embed.provenance.weightsSha256 ?? {})).toEqual(['model.safetensors']);
        expect(embed.provenance.preprocess).toMatchObject({ size: [224, 224], mean: expect.any(Array), std: expect.any(Array), interpolation: expect.any(String) });
      } finally {
        await embed.close();
      }
    } finally {
      for (const k of Object.keys(NO_GPU)) if (saved[k] === undefined) delete process.env[k];
    }
  }, 60_000);
});
