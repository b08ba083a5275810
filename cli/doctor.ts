/**
 * `vit doctor [--json]`: what runs here and why the rest does not. Node and CPU features; for every backend
 * whether it works or the exact reason (cuda: libraries tried, driver and CUDA versions, devices; webgpu: the
 * adapter, software renderer or not, shader-f16 and subgroup-matrix); package versions; the model cache and
 * offline mode; then a self-test per backend that starts: a small random ViT against the float64 reference.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { packageVersion } from '../bench/environment.js';
import { startAuto, type AutoChoice } from '../engine/auto.js';
import { compareArrays } from '../engine/compare.js';
import { createSession, type BackendName } from '../engine/session.js';
import { hfCacheDir, hfOffline } from '../loaders/hub.js';
import { tinyRandomModel } from '../model/random.js';
import { forward64 } from '../model/reference.js';
import { xorshiftFill } from '../util/random.js';

/** The self-test's tolerance, the conformance one: |a - r| <= atol + rtol * |r|. */
const TOL = 1e-4;
/** The auto order first (cuda, webgpu, then the CPU backends best first: onnx, wasm), then the rest. */
const ORDER: BackendName[] = ['cuda', 'webgpu', 'onnx', 'wasm', 'cpu', 'tensorflow'];
const PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'onnxruntime-node', 'webgpu', 'koffi'];

export interface SelfTest {
  precision: string;
  /** max |diff| of the logits against model/reference.ts forward64. */
  maxAbsDiff: number;
  pass: boolean;
  /** Milliseconds to build the session, and to run the batch once it is warm. */
  startMs: number;
  runMs: number;
}

export interface BackendReport {
  backend: BackendName;
  works: boolean;
  /** Why it does not work (the backend's own message, with its install hint). */
  reason?: string;
  /** A limit that still lets it run (auto passes over a software adapter). */
  note?: string;
  details?: Record<string, unknown>;
  selfTest?: SelfTest;
}

export interface DoctorReport {
  engineVersion: string;
  node: { version: string; platform: string; arch: string };
  cpu: { model: string; cores: number; memoryGB: number; flags: Record<string, boolean> };
  packages: Record<string, string | null>;
  cache: { dir: string; exists: boolean; offline: boolean };
  backends: BackendReport[];
  /** What `--backend auto` takes here, and why it passes over the faster ones. */
  auto?: AutoChoice;
}

/** CPU features that matter to the CPU backends' kernels, from /proc/cpuinfo (Linux; all false elsewhere). */
function cpuFlags(): Record<string, boolean> {
  let flags = new Set<string>();
  try {
    const line = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    flags = new Set(line.split(/\s+/));
  } catch {
    // not Linux
  }
  const names = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'avx_vnni', 'amx_bf16'];
  return Object.fromEntries(names.map((n) => [n, flags.has(n)]));
}

/** Builds a session on the tiny model, runs 2 images, compares with forward64. Throws the backend's reason. */
async function selfTest(backend: BackendName): Promise<SelfTest> {
  const model = tinyRandomModel(7);
  const [h, w] = model.config.imageSize;
  const batch = 2;
  const pixels = new Float32Array(batch * 3 * h * w);
  xorshiftFill(pixels, 0x1234567, -2, 2);
  const t0 = performance.now();
  const session = await createSession(model, backend, { precision: 'fp32' });
  try {
    const startMs = performance.now() - t0;
    await session.run(pixels, batch); // warm-up (kernels compiled, plans built)
    const t1 = performance.now();
    const out = await session.run(pixels, batch);
    const runMs = performance.now() - t1;
    const c = compareArrays(out, forward64(model, pixels, batch), TOL, TOL);
    return { precision: 'fp32', maxAbsDiff: c.maxAbsDiff, pass: c.failing === 0, startMs: Math.round(startMs), runMs: Math.round(runMs * 10) / 10 };
  } finally {
    await session.dispose();
  }
}

async function cudaDetails(): Promise<{ reason?: string; note?: string; details: Record<string, unknown> }> {
  const { probeCuda, cudaVersionString } = await import('../engine/cuda/probe.js');
  const p = await probeCuda();
  const details: Record<string, unknown> = {
    driverLibrary: process.env.VIT_LIBCUDA ?? 'libcuda.so.1',
    search: p.search,
    ...(p.libraries ? { libraries: p.libraries } : {}),
    ...(p.driverVersion ? { driverCudaVersion: cudaVersionString(p.driverVersion) } : {}),
    ...(p.nvrtcVersion ? { nvrtcVersion: p.nvrtcVersion } : {}),
    ...(p.cublasLtVersion ? { cublasLtVersion: p.cublasLtVersion } : {}),
    devices: p.devices,
  };
  return { reason: p.ok ? undefined : p.reason, note: p.note, details };
}

async function webgpuDetails(): Promise<{ reason?: string; note?: string; details: Record<string, unknown> }> {
  let mod: typeof import('../engine/webgpu/device.js');
  try {
    mod = await import('../engine/webgpu/device.js');
  } catch {
    return { reason: 'backend "webgpu" needs the optional package webgpu (Dawn, ~130 MB): npm install webgpu', details: {} };
  }
  const a = await mod.probeAdapter();
  if (!a.ok) return { reason: a.reason, details: {} };
  const { ok: _ok, reason: _r, ...details } = a;
  return { note: a.software ? `software renderer (${a.software}): works, but auto passes over it` : undefined, details };
}

async function onnxDetails(): Promise<{ reason?: string; details: Record<string, unknown> }> {
  const { loadOrt } = await import('../engine/onnx/runtime.js');
  try {
    const ort = await loadOrt();
    const v = ort.env.versions;
    return { details: v ? { versions: v } : {} };
  } catch (e) {
    return { reason: (e as Error).message, details: {} };
  }
}

async function checkBackend(backend: BackendName): Promise<BackendReport> {
  let pre: { reason?: string; note?: string; details: Record<string, unknown> } | undefined;
  if (backend === 'cuda') pre = await cudaDetails();
  if (backend === 'webgpu') pre = await webgpuDetails();
  if (backend === 'onnx') pre = await onnxDetails();
  const base: BackendReport = { backend, works: false, ...(pre?.note ? { note: pre.note } : {}), ...(pre && Object.keys(pre.details).length ? { details: pre.details } : {}) };
  if (pre?.reason) return { ...base, reason: pre.reason };
  try {
    const t = await selfTest(backend);
    return { ...base, works: t.pass, selfTest: t, ...(t.pass ? {} : { reason: `self-test: max |diff| ${t.maxAbsDiff.toExponential(2)} against the float64 reference exceeds ${TOL}` }) };
  } catch (e) {
    return { ...base, reason: (e as Error).message };
  }
}

export async function runDoctor(): Promise<DoctorReport> {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const packages: Record<string, string | null> = {};
  for (const p of PACKAGES) packages[p] = packageVersion(p) ?? null;
  const backends: BackendReport[] = [];
  for (const b of ORDER) backends.push(await checkBackend(b));
  const byName = new Map(backends.map((b) => [b.backend as string, b]));
  let auto: AutoChoice | undefined;
  try {
    // The auto order over these results: the probes rule out, the self-tests are the trials.
    auto = (
      await startAuto(async (b) => {
        const r = byName.get(b);
        if (!r?.works) throw new Error(r?.reason ?? `backend "${b}" is not part of this build`);
        return b;
      })
    ).choice;
  } catch {
    auto = undefined;
  }
  const dir = hfCacheDir();
  return {
    engineVersion: version,
    node: { version: process.version, platform: process.platform, arch: process.arch },
    cpu: { model: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism(), memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10, flags: cpuFlags() },
    packages,
    cache: { dir, exists: existsSync(dir), offline: hfOffline() },
    backends,
    ...(auto ? { auto } : {}),
  };
}

function detailLines(b: BackendReport): string[] {
  const d = b.details ?? {};
  const out: string[] = [];
  if (b.backend === 'cuda') {
    out.push(`driver library: ${String(d.driverLibrary)}${d.libraries ? ` (loaded ${JSON.stringify(d.libraries)})` : ''}`);
    for (const s of (d.search as { lib: string; candidates: string[] }[] | undefined) ?? []) out.push(`${s.lib} tried: ${s.candidates.join(', ')}`);
    if (d.driverCudaVersion) out.push(`driver CUDA ${String(d.driverCudaVersion)}, NVRTC ${String(d.nvrtcVersion)}, cuBLASLt ${String(d.cublasLtVersion)}`);
    for (const dev of (d.devices as { ordinal: number; name: string; computeCapability: string; memoryGiB: number }[] | undefined) ?? []) {
      out.push(`device ${dev.ordinal}: ${dev.name}, compute capability ${dev.computeCapability}, ${dev.memoryGiB} GiB`);
    }
  }
  if (b.backend === 'onnx' && d.versions) out.push(`onnxruntime ${Object.entries(d.versions as Record<string, string>).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (b.backend === 'webgpu' && d.description !== undefined) {
    out.push(`adapter: ${String(d.description || d.device)} (vendor ${String(d.vendor)}, architecture ${String(d.architecture)})${d.software ? `, software renderer ${String(d.software)}` : ', hardware'}`);
    out.push(`shader-f16: ${d.shaderF16 ? 'yes' : 'no'} (with vulkan_enable_f16_on_nvidia: ${d.shaderF16WithToggle === undefined ? 'unknown' : d.shaderF16WithToggle ? 'yes' : 'no'}), subgroups: ${d.subgroups ? 'yes' : 'no'}`);
    const sm = d.subgroupMatrix as string[];
    out.push(`subgroup-matrix: ${sm.length ? sm.join(', ') : 'none'}`);
  }
  return out;
}

/** The readable report. */
export function formatDoctor(r: DoctorReport): string {
  const L: string[] = [];
  const yes = (v: boolean) => (v ? 'yes' : 'no');
  L.push(`vit doctor (vit-engine ${r.engineVersion})`);
  L.push(`node      ${r.node.version} ${r.node.platform} ${r.node.arch}`);
  L.push(`cpu       ${r.cpu.model}, ${r.cpu.cores} cores, ${r.cpu.memoryGB} GB memory`);
  L.push(`features  ${Object.entries(r.cpu.flags).map(([k, v]) => `${k} ${yes(v)}`).join(', ')}`);
  L.push(`packages  ${Object.entries(r.packages).map(([k, v]) => `${k} ${v ?? 'not installed'}`).join(', ')}`);
  L.push(`cache     ${r.cache.dir}${r.cache.exists ? '' : ' (not created yet)'}; offline mode ${r.cache.offline ? 'on' : 'off'} (HF_HUB_OFFLINE)`);
  L.push('');
  L.push('backends');
  for (const b of r.backends) {
    const t = b.selfTest;
    const head = b.works
      ? `works  self-test ${t!.precision}: max |diff| ${t!.maxAbsDiff.toExponential(2)} vs float64 reference (tolerance ${TOL}), start ${t!.startMs} ms, run ${t!.runMs} ms`
      : `no     ${b.reason}`;
    L.push(`  ${b.backend.padEnd(11)}${head}`);
    for (const line of [...(b.note ? [b.note] : []), ...detailLines(b)]) L.push(`${' '.repeat(20)}${line}`);
  }
  L.push('');
  if (r.auto) {
    const why = r.auto.skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ');
    L.push(`auto      -> ${r.auto.backend}${why ? ` (${why})` : ''}`);
  } else L.push('auto      -> nothing works here');
  return `${L.join('\n')}\n`;
}
