/**
 * One WebGPU device through Dawn (`webgpu` npm package): instance, adapter and device creation with
 * the limits the kernels need, loss and error tracking, shader compilation with readable errors.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { ldconfigPaths } from '../cuda/libraries.js';

// Objects returned by create() must stay referenced while their devices live, or the process dies:
// one per distinct flag set, kept for the life of the process.
const instances = new Map<string, GPU>();

/** Dawn toggles. Robustness (bounds clamping on every storage access) is off by default: every kernel
 * here checks its own bounds. VIT_WEBGPU_ROBUST=1 turns it back on. Timestamps are not quantised.
 * `f16` adds vulkan_enable_f16_on_nvidia: Dawn keeps shader-f16 (and the f16 subgroup-matrix configs) off on
 * NVIDIA by default over unresolved conformance failures, so fp16 sessions check their own results. */
function dawnFlags(backend: string | undefined, f16: boolean, env: NodeJS.ProcessEnv = process.env): string[] {
  const enable = ['allow_unsafe_apis'];
  if (f16) enable.push('vulkan_enable_f16_on_nvidia');
  if (env.VIT_WEBGPU_ROBUST !== '1') enable.push('disable_robustness');
  const flags = [`enable-dawn-features=${enable.join(',')}`, 'disable-dawn-features=timestamp_quantization'];
  if (backend) flags.push(`backend=${backend}`);
  return flags;
}

/** The Dawn instance for a backend ('null' compiles WGSL without a GPU: used to check the kernels). */
export function gpu(backend?: string, f16 = false): GPU {
  const flags = dawnFlags(backend, f16);
  const key = flags.join(' ');
  let g = instances.get(key);
  if (!g) {
    Object.assign(globalThis, globals);
    g = create(flags);
    instances.set(key, g);
  }
  return g;
}

export const NO_ADAPTER = 'no WebGPU adapter: needs a GPU with Vulkan (libvulkan1) and its driver';

const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;

/** One entry of adapter.info.subgroupMatrixConfigs (Dawn's experimental extension). */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

interface AdapterInfoExt {
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  subgroupMatrixConfigs?: SubgroupMatrixConfig[];
}
const infoExt = (i: GPUAdapterInfo) => i as unknown as AdapterInfoExt;

/** Readable list of subgroup-matrix configs, e.g. "f16->f32 16x16x16". */
export function matrixConfigNames(info: GPUAdapterInfo): string[] {
  return (infoExt(info).subgroupMatrixConfigs ?? []).map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`);
}

/**
 * Test hook VIT_TEST_WEBGPU_ADAPTER: 'none' makes adapter requests find nothing; 'software' makes the adapter
 * report itself as llvmpipe. It lets the auto order and its fallback be tested on any machine.
 */
async function requestAdapter(g: GPU): Promise<GPUAdapter | null> {
  if (process.env.VIT_TEST_WEBGPU_ADAPTER === 'none') return null;
  return g.requestAdapter({ powerPreference: 'high-performance' });
}

function adapterInfo(adapter: GPUAdapter): GPUAdapterInfo {
  if (process.env.VIT_TEST_WEBGPU_ADAPTER !== 'software') return adapter.info;
  const { subgroupMinSize, subgroupMaxSize, subgroupMatrixConfigs } = infoExt(adapter.info);
  const info = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe (VIT_TEST_WEBGPU_ADAPTER=software)', subgroupMinSize, subgroupMaxSize, subgroupMatrixConfigs };
  return info as unknown as GPUAdapterInfo;
}

/** The software renderer an adapter is (lavapipe/llvmpipe, SwiftShader, a fallback adapter), or undefined for hardware. */
export function softwareRenderer(info: { vendor?: string; architecture?: string; device?: string; description?: string }, isFallback = false): string | undefined {
  const text = `${info.description ?? ''} ${info.device ?? ''} ${info.vendor ?? ''}`;
  const m = /llvmpipe|lavapipe|swiftshader|softpipe|basic render/i.exec(text);
  if (m) return m[0].toLowerCase();
  if (info.architecture === 'software' || isFallback) return info.description || info.device || 'software adapter';
  return undefined;
}

export interface AdapterProbe {
  ok: boolean;
  reason?: string;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  /** The software renderer's name, when the adapter is one. */
  software?: string;
  shaderF16: boolean;
  /** shader-f16 with Dawn's vulkan_enable_f16_on_nvidia toggle. */
  shaderF16WithToggle?: boolean;
  subgroups: boolean;
  /** Subgroup-matrix configurations (component types and M x N x K) the adapter offers. */
  subgroupMatrix: string[];
}

/** What `--backend auto` and `vit doctor` learn about the default adapter without building a device; never throws. */
export async function probeAdapter(): Promise<AdapterProbe> {
  const out: AdapterProbe = { ok: false, shaderF16: false, subgroups: false, subgroupMatrix: [] };
  const loader = process.env.VIT_TEST_WEBGPU_ADAPTER === 'none' ? undefined : vulkanLoaderMissing();
  if (loader) return { ...out, reason: loader };
  try {
    const adapter = await requestAdapter(gpu());
    if (!adapter) return { ...out, reason: NO_ADAPTER };
    const i = adapterInfo(adapter);
    const f16 = await requestAdapter(gpu(undefined, true)).catch(() => null);
    return {
      ok: true,
      vendor: i.vendor,
      architecture: i.architecture,
      device: i.device,
      description: i.description,
      software: softwareRenderer(i, Boolean((adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter)),
      shaderF16: adapter.features.has('shader-f16'),
      shaderF16WithToggle: f16 ? f16.features.has('shader-f16') : undefined,
      subgroups: adapter.features.has('subgroups'),
      subgroupMatrix: matrixConfigNames(i),
    };
  } catch (e) {
    return { ...out, reason: `${NO_ADAPTER} (${(e as Error).message})` };
  }
}

/**
 * On Linux Dawn runs on Vulkan: without the loader (libvulkan.so.1) there is no adapter, and asking Dawn prints a
 * warning. Looks where the dynamic loader would (LD_LIBRARY_PATH, ldconfig's cache, the system folders).
 */
function vulkanLoaderMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const lib = 'libvulkan.so.1';
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  if (dirs.some((d) => existsSync(join(d, lib))) || ldconfigPaths().has(lib)) return undefined;
  return `${NO_ADAPTER}: ${lib} not found (Debian/Ubuntu: apt-get install libvulkan1)`;
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly hasTimestamps: boolean;
  readonly hasSubgroups: boolean;
  /** Device has shader-f16 (asked for by fp16 sessions only). */
  readonly hasF16: boolean;
  /** Device has f16 subgroup matrices with an f16 -> f32 16x16x16 configuration and a fixed subgroup size. */
  readonly hasF16Matrix: boolean;
  /** Device has the subgroup-matrix feature (whatever its configurations). */
  readonly hasSubgroupMatrixFeature: boolean;
  /** The adapter's subgroup size when it is fixed (min = max), else undefined. */
  readonly subgroupSize: number | undefined;
  /** The adapter's largest subgroup size, where it reports one. */
  readonly maxSubgroupSize: number | undefined;
  /** Set once the device is lost; every later use throws. */
  lostReason: string | undefined;
  /** Uncaptured errors since the last check (validation/OOM outside an error scope). */
  readonly errors: string[] = [];

  constructor(device: GPUDevice, info: GPUAdapterInfo) {
    this.device = device;
    this.adapterInfo = info;
    this.hasTimestamps = device.features.has('timestamp-query');
    this.hasSubgroups = device.features.has('subgroups' as GPUFeatureName);
    this.hasF16 = device.features.has('shader-f16');
    const x = infoExt(info);
    this.maxSubgroupSize = x.subgroupMaxSize;
    this.subgroupSize = x.subgroupMinSize && x.subgroupMinSize === x.subgroupMaxSize ? x.subgroupMinSize : undefined;
    const f16x16 = (x.subgroupMatrixConfigs ?? []).some(
      (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16,
    );
    this.hasSubgroupMatrixFeature = this.hasF16 && this.hasSubgroups && device.features.has(SUBGROUP_MATRIX);
    this.hasF16Matrix = this.hasSubgroupMatrixFeature && f16x16 && this.subgroupSize !== undefined;
    void device.lost.then((l) => {
      this.lostReason = `${l.reason}: ${l.message}`;
    });
    const onError = (ev: Event) => {
      const msg = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
      this.errors.push(msg);
      if (this.errors.length > 20) this.errors.shift();
      process.stderr.write(`engine/webgpu: uncaptured WebGPU error: ${msg}\n`);
    };
    if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
    else (device as unknown as { onuncapturederror: (e: Event) => void }).onuncapturederror = onError;
  }

  /** Throws a clear error if the device is gone or reported an error since the last check. */
  check(where: string): void {
    if (this.lostReason !== undefined) {
      throw new Error(`engine/webgpu: device lost (${this.lostReason}) during/before ${where}; create a new session`);
    }
    if (this.errors.length) {
      const e = this.errors.splice(0).join('; ');
      throw new Error(`engine/webgpu: WebGPU error during ${where}: ${e}`);
    }
  }

  /** Run `fn` inside validation + out-of-memory error scopes and throw what they caught. */
  async scoped<T>(where: string, fn: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let out: T;
    try {
      out = await fn();
    } finally {
      const v = await this.device.popErrorScope();
      const o = await this.device.popErrorScope();
      if (v || o) throw new Error(`engine/webgpu: ${where}: ${(v ?? o)!.message}`);
    }
    return out;
  }

  buffer(size: number, usage: number, label?: string): GPUBuffer {
    // Storage bindings are sized in multiples of 4; keep every buffer at least 16 bytes.
    return this.device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage, label });
  }

  /** A storage buffer initialised from `data` (mapped at creation, no staging copy). */
  upload(data: Float32Array | Uint16Array, label?: string, extraUsage = 0): GPUBuffer {
    const buf = this.device.createBuffer({
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extraUsage,
      mappedAtCreation: true,
      label,
    });
    new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buf.unmap();
    return buf;
  }

  /** Compile a WGSL module; errors come back with line numbers and the offending source lines. */
  async compile(code: string, label: string): Promise<GPUShaderModule> {
    // The scope keeps a compile error out of the uncaptured-error log; it is reported below instead.
    // (push, create and pop run synchronously, so concurrent compiles cannot interleave scopes.)
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    const scope = this.device.popErrorScope();
    const info = await module.getCompilationInfo();
    const scopeError = await scope;
    const errs = info.messages.filter((m) => m.type === 'error');
    if (errs.length) {
      const lines = code.split('\n');
      const detail = errs
        .map((m) => `  ${label}:${m.lineNum}:${m.linePos} ${m.message}\n    | ${lines[m.lineNum - 1]?.trim() ?? ''}`)
        .join('\n');
      throw new Error(`engine/webgpu: WGSL compilation failed for ${label}:\n${detail}`);
    }
    if (scopeError) throw new Error(`engine/webgpu: shader module ${label}: ${scopeError.message}`);
    return module;
  }

  /** Compile and create a compute pipeline (async creation rejects with the reason, no error scope needed). */
  async pipeline(code: string, label: string): Promise<GPUComputePipeline> {
    const module = await this.compile(code, label);
    try {
      return await this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
    } catch (e) {
      throw new Error(`engine/webgpu: pipeline ${label}: ${(e as Error).message}`);
    }
  }

  destroy(): void {
    this.device.destroy();
  }
}

export interface DeviceOptions {
  gpuIndex?: number;
  /** Dawn backend name; 'null' gives a device that validates and compiles but runs nothing. */
  backend?: string;
  /** Ask for shader-f16 and f16 subgroup matrices (on an instance with the NVIDIA f16 toggle). */
  f16?: boolean;
}

/** Adapter + device with raised limits. Throws NO_ADAPTER when there is no usable GPU. */
export async function createGpuContext(opts: DeviceOptions = {}): Promise<GpuContext> {
  const g = gpu(opts.backend, opts.f16 ?? false);
  let adapter: GPUAdapter | null = null;
  const index = opts.gpuIndex ?? 0;
  if (index > 0) {
    // Dawn-node picks adapters by name through create(['adapter=...']); here only the default is reachable.
    throw new Error(`engine/webgpu: gpuIndex ${index} is not supported (only the default adapter)`);
  }
  try {
    adapter = await requestAdapter(g);
  } catch (e) {
    throw new Error(`${NO_ADAPTER} (${(e as Error).message})`);
  }
  if (!adapter) throw new Error(NO_ADAPTER);
  const L = adapter.limits;
  const want: Record<string, number> = {
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
  };
  const features: GPUFeatureName[] = [];
  const wanted = ['timestamp-query', 'subgroups', ...(opts.f16 ? ['shader-f16', SUBGROUP_MATRIX] : [])] as GPUFeatureName[];
  for (const f of wanted) if (adapter.features.has(f)) features.push(f);
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: want });
  return new GpuContext(device, adapterInfo(adapter));
}

/** Adapter description for reports: vendor/architecture/device/description, features, limits. */
export async function describeAdapter(backend?: string, f16 = false): Promise<Record<string, unknown> | undefined> {
  const adapter = await requestAdapter(gpu(backend, f16));
  if (!adapter) return undefined;
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') limits[k] = v;
  }
  const i = adapterInfo(adapter);
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    features: [...adapter.features].sort(),
    subgroupSizes: [infoExt(i).subgroupMinSize, infoExt(i).subgroupMaxSize],
    subgroupMatrixConfigs: matrixConfigNames(i),
    limits,
  };
}
