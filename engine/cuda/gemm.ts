/**
 * Linear layers on cuBLASLt: y = x W^T (+ bias) (+ y when accumulating into the residual stream), row-major
 * activations, nn.Linear weights [out, in]. In cuBLAS's column-major terms D[m=out, n=tokens] = op(W)^T X.
 * The algorithm per shape is chosen by timing cuBLASLt's heuristic candidates once, on the plan's own buffers.
 */
import type { CudaApi, Handle } from './driver.js';

export type ElemType = 'f32' | 'bf16' | 'f16';
export type Compute = 'f32' | 'tf32';

const CUDA_TYPE: Record<ElemType, number> = { f32: 0, f16: 2, bf16: 14 };
export const ELEM_BYTES: Record<ElemType, number> = { f32: 4, f16: 2, bf16: 2 };
const CUBLAS_COMPUTE_32F = 68;
const CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
const DESC_TRANSA = 3;
const DESC_EPILOGUE = 7;
const DESC_BIAS_POINTER = 8;
const EPILOGUE: Record<Epilogue, number> = { none: 1, bias: 4, gelu_bias: 36 };
const PREF_MAX_WORKSPACE_BYTES = 1;
const HEURISTIC_BYTES = 96; // cublasLtMatmulHeuristicResult_t: algo[64], workspaceSize, state, wavesCount, reserved[4]
const CANDIDATES = 8;

export type Epilogue = 'none' | 'bias' | 'gelu_bias';

export interface GemmShape {
  /** Output features (rows of W). */
  m: number;
  /** Tokens (rows of x). */
  n: number;
  /** Input features. */
  k: number;
  wType: ElemType;
  xType: ElemType;
  outType: ElemType;
  compute: Compute;
  epilogue: Epilogue;
  /** Adds into the output (residual stream): beta = 1. */
  accumulate: boolean;
}

export interface GemmCall {
  shape: GemmShape;
  w: number;
  x: number;
  out: number;
  bias?: number;
}

function shapeKey(s: GemmShape): string {
  return [s.m, s.n, s.k, s.wType, s.xType, s.outType, s.compute, s.epilogue, s.accumulate].join(':');
}

/** One cuBLASLt handle with its chosen algorithms; descriptors are made per call site (bias pointers differ). */
export class GemmRunner {
  private readonly handle: Handle;
  private readonly algos = new Map<string, Buffer>();
  private readonly owned: { destroy: () => void }[] = [];
  /** Measured per chosen algorithm, for reports: shape key -> ms per call. */
  readonly chosenMs = new Map<string, number>();

  constructor(private readonly api: CudaApi, private readonly workspace: number, private readonly workspaceBytes: number) {
    const h = [null];
    api.check('cublasLt', api.lt.cublasLtCreate(h), 'cublasLtCreate');
    this.handle = h[0];
  }

  private layout(type: ElemType, rows: number, cols: number, ld: number): Handle {
    const l = [null];
    this.api.check('cublasLt', this.api.lt.cublasLtMatrixLayoutCreate(l, CUDA_TYPE[type], rows, cols, ld), 'cublasLtMatrixLayoutCreate');
    const h = l[0];
    this.owned.push({ destroy: () => this.api.lt.cublasLtMatrixLayoutDestroy(h) });
    return h;
  }

  /** A ready-to-launch call: descriptors bound to this call's pointers; `run(stream)` issues it. */
  prepare(call: GemmCall): PreparedGemm {
    const s = call.shape;
    const api = this.api;
    const d = [null];
    api.check('cublasLt', api.lt.cublasLtMatmulDescCreate(d, s.compute === 'tf32' ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, 0), 'cublasLtMatmulDescCreate');
    const desc = d[0];
    this.owned.push({ destroy: () => api.lt.cublasLtMatmulDescDestroy(desc) });
    api.check('cublasLt', api.lt.cublasLtMatmulDescSetAttribute(desc, DESC_TRANSA, new Int32Array([1]), 4), 'cublasLtMatmulDescSetAttribute(TRANSA)');
    const epi = s.epilogue !== 'none' && call.bias === undefined ? 'none' : s.epilogue;
    api.check('cublasLt', api.lt.cublasLtMatmulDescSetAttribute(desc, DESC_EPILOGUE, new Int32Array([EPILOGUE[epi]]), 4), 'cublasLtMatmulDescSetAttribute(EPILOGUE)');
    if (epi !== 'none') {
      api.check('cublasLt', api.lt.cublasLtMatmulDescSetAttribute(desc, DESC_BIAS_POINTER, new BigUint64Array([BigInt(call.bias!)]), 8), 'cublasLtMatmulDescSetAttribute(BIAS)');
    }
    const a = this.layout(s.wType, s.k, s.m, s.k);
    const b = this.layout(s.xType, s.k, s.n, s.k);
    const c = this.layout(s.outType, s.m, s.n, s.m);
    return new PreparedGemm(this, desc, a, b, c, call, { ...s, epilogue: epi });
  }

  /** The fastest of cuBLASLt's candidates for this call's shape, timed on `stream` (cached per shape). */
  algoFor(g: PreparedGemm, stream: Handle): Buffer {
    const key = shapeKey(g.shape);
    const known = this.algos.get(key);
    if (known) return known;
    const api = this.api;
    const p = [null];
    api.check('cublasLt', api.lt.cublasLtMatmulPreferenceCreate(p), 'cublasLtMatmulPreferenceCreate');
    try {
      api.check('cublasLt', api.lt.cublasLtMatmulPreferenceSetAttribute(p[0], PREF_MAX_WORKSPACE_BYTES, new BigUint64Array([BigInt(this.workspaceBytes)]), 8), 'cublasLtMatmulPreferenceSetAttribute');
      const results = Buffer.alloc(HEURISTIC_BYTES * CANDIDATES);
      const count = [0];
      api.check('cublasLt', api.lt.cublasLtMatmulAlgoGetHeuristic(this.handle, g.desc, g.a, g.b, g.c, g.c, p[0], CANDIDATES, results, count), 'cublasLtMatmulAlgoGetHeuristic', `choosing a GEMM algorithm for ${key}`);
      if (count[0]! < 1) throw new Error(`engine/cuda: cuBLASLt has no algorithm for GEMM ${key}`);
      const start = api.event(true), end = api.event(true);
      let best: Buffer | undefined;
      let bestMs = Infinity;
      try {
        for (let i = 0; i < count[0]!; i++) {
          const algo = Buffer.from(results.subarray(i * HEURISTIC_BYTES, i * HEURISTIC_BYTES + 64));
          if (results.readInt32LE(i * HEURISTIC_BYTES + 72) !== 0) continue;
          try {
            g.launch(stream, algo); // warm-up
            api.check('driver', api.cu.cuEventRecord(start, stream), 'cuEventRecord');
            for (let r = 0; r < 3; r++) g.launch(stream, algo);
            api.check('driver', api.cu.cuEventRecord(end, stream), 'cuEventRecord');
            api.check('driver', api.cu.cuStreamSynchronize(stream), 'cuStreamSynchronize', `timing GEMM ${key}`);
            const ms = api.elapsedMs(start, end) / 3;
            if (ms < bestMs) [best, bestMs] = [algo, ms];
          } catch (e) {
            if (i === count[0]! - 1 && !best) throw e;
          }
        }
      } finally {
        api.cu.cuEventDestroy(start);
        api.cu.cuEventDestroy(end);
      }
      if (!best) throw new Error(`engine/cuda: no cuBLASLt algorithm ran for GEMM ${key}`);
      this.algos.set(key, best);
      this.chosenMs.set(key, bestMs);
      return best;
    } finally {
      api.lt.cublasLtMatmulPreferenceDestroy(p[0]);
    }
  }

  matmul(g: PreparedGemm, stream: Handle, algo: Buffer): void {
    const c = g.call;
    const status = this.api.lt.cublasLtMatmul(
      this.handle, g.desc, g.alpha, c.w, g.a, c.x, g.b, g.beta, c.out, g.c, c.out, g.c, algo, this.workspace, this.workspaceBytes, stream,
    ) as number;
    this.api.check('cublasLt', status, 'cublasLtMatmul', `GEMM ${shapeKey(g.shape)}`);
  }

  destroy(): void {
    for (const o of this.owned.splice(0)) o.destroy();
    this.api.lt.cublasLtDestroy(this.handle);
  }
}

export class PreparedGemm {
  readonly alpha = new Float32Array([1]);
  readonly beta: Float32Array;

  constructor(
    private readonly runner: GemmRunner,
    readonly desc: Handle,
    readonly a: Handle,
    readonly b: Handle,
    readonly c: Handle,
    readonly call: GemmCall,
    readonly shape: GemmShape,
  ) {
    this.beta = new Float32Array([shape.accumulate ? 1 : 0]);
  }

  launch(stream: Handle, algo?: Buffer): void {
    this.runner.matmul(this, stream, algo ?? this.runner.algoFor(this, stream));
  }
}

/** FLOPs of one call, for reports. */
export function gemmFlops(s: GemmShape): number {
  return 2 * s.m * s.n * s.k;
}
