/**
 * `vit doctor`: the report's shape, every backend with works or its reason, a passing self-test for the CPU
 * backends, and the auto line; with the hooks, cuda's reason names the library path tried.
 */
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../cli/doctor.js';
import { ortAvailable } from '../engine/onnx/runtime.js';
import { vit as runVit } from './helpers/cli.js';

/** onnx is the best CPU backend where onnxruntime-node loads; without it auto falls to wasm. */
const ORT = await ortAvailable();
const CPU_BEST = ORT ? 'onnx' : 'wasm';
const NO_ORT = { VIT_TEST_ONNXRUNTIME_MODULE: 'onnxruntime-node-not-installed' };

const NO_GPU = { VIT_LIBCUDA: '/nonexistent/libcuda.so.1', VIT_TEST_WEBGPU_ADAPTER: 'none', HF_HUB_OFFLINE: '1' };

/** `vit ...args` with extra environment variables. */
const vit = (args: string[], env: NodeJS.ProcessEnv = {}) => runVit(args, { env });

describe('vit doctor', () => {
  it('--json: every backend works or says why; CPU self-tests within 1e-4 of the float64 reference; auto falls to the best CPU backend', async () => {
    const r = await vit(['doctor', '--json'], NO_GPU);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as DoctorReport;
    expect(d.node.version).toBe(process.version);
    expect(d.cpu.cores).toBeGreaterThan(0);
    expect(Object.keys(d.cpu.flags)).toEqual(expect.arrayContaining(['avx512f', 'avx512_bf16', 'avx512_vnni']));
    expect(d.cache).toMatchObject({ dir: expect.any(String), offline: true });
    expect(d.backends.map((b) => b.backend)).toEqual(['cuda', 'webgpu', 'onnx', 'wasm', 'cpu', 'tensorflow']);
    for (const b of d.backends) expect(b.works || typeof b.reason === 'string', b.backend).toBe(true);
    const cuda = d.backends[0]!;
    expect(cuda.works).toBe(false);
    expect(cuda.reason).toMatch(/\/nonexistent\/libcuda\.so\.1/);
    expect(d.backends[1]).toMatchObject({ works: false, reason: expect.stringMatching(/no WebGPU adapter/) });
    for (const b of d.backends.filter((x) => (ORT ? ['onnx', 'wasm', 'cpu'] : ['wasm', 'cpu']).includes(x.backend))) {
      expect(b.works, b.backend).toBe(true);
      expect(b.selfTest!.pass).toBe(true);
      expect(b.selfTest!.maxAbsDiff).toBeLessThan(1e-4);
      expect(b.selfTest!.maxAbsDiff).toBeGreaterThan(0);
    }
    expect(d.auto).toEqual({ requested: 'auto', backend: CPU_BEST, skipped: [{ backend: 'cuda', reason: 'libcuda.so.1 not found' }, { backend: 'webgpu', reason: 'no WebGPU adapter' }] });
  }, 120_000);

  it('the readable report ends with the auto line', async () => {
    const r = await vit(['doctor'], NO_GPU);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}wasm +works +self-test fp32: max \|diff\| \S+ vs float64 reference/m);
    expect(r.stdout).toMatch(/^cache +\S.*offline mode on \(HF_HUB_OFFLINE\)$/m);
    expect(r.stdout.trimEnd().split('\n').pop()).toBe(`auto      -> ${CPU_BEST} (cuda: libcuda.so.1 not found; webgpu: no WebGPU adapter)`);
  }, 120_000);

  it('without onnxruntime-node: onnx says what to install, auto falls to wasm', async () => {
    const r = await vit(['doctor', '--json'], { ...NO_GPU, ...NO_ORT });
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as DoctorReport;
    expect(d.backends.find((b) => b.backend === 'onnx')).toMatchObject({ works: false, reason: expect.stringContaining('npm install onnxruntime-node') });
    expect(d.auto).toEqual({ requested: 'auto', backend: 'wasm', skipped: [{ backend: 'cuda', reason: 'libcuda.so.1 not found' }, { backend: 'webgpu', reason: 'no WebGPU adapter' }] });
  }, 120_000);
});
