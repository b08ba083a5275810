/**
 * InferenceSession on onnxruntime's CPU execution provider: the graph is built in memory from the loaded
 * weights (graph.ts) and handed over as bytes; onnxruntime applies all its graph optimisations and prepacks
 * the GEMM weights for MLAS. One intra-op thread by default: parallelism comes from the worker pool
 * (NOTES.md has the measurement).
 */
import { outputWidth, type ModelOutput } from '../../model/shapes.js';
import type { ViTModel } from '../../model/weights.js';
import type { InferenceSession, SessionOptions } from '../types.js';
import { buildOnnxModel, INPUT_NAME, OUTPUT_NAME } from './graph.js';
import { loadOrt, type OrtInferenceSession, type OrtModule } from './runtime.js';

class OnnxSession implements InferenceSession {
  readonly backend = 'onnx' as const;
  private staging?: Float32Array;
  constructor(
    readonly model: ViTModel,
    readonly output: ModelOutput,
    private readonly ort: OrtModule,
    private readonly session: OrtInferenceSession,
  ) {}

  async run(pixels: Float32Array, batch: number): Promise<Float32Array> {
    const c = this.model.config;
    const [h, w] = c.imageSize;
    const expected = batch * c.numChannels * h * w;
    if (pixels.length !== expected) {
      throw new Error(`pixels: ${pixels.length} values, expected ${batch}x${c.numChannels}x${h}x${w} = ${expected}`);
    }
    // onnxruntime-node refuses views on a SharedArrayBuffer (the pool's batches): those are copied once into
    // a buffer kept for the next batch of the same size.
    let data = pixels;
    if (!(pixels.buffer instanceof ArrayBuffer)) {
      if (this.staging?.length !== pixels.length) this.staging = new Float32Array(pixels.length);
      this.staging.set(pixels);
      data = this.staging;
    }
    const input = new this.ort.Tensor('float32', data, [batch, c.numChannels, h, w]);
    const out = (await this.session.run({ [INPUT_NAME]: input }))[OUTPUT_NAME]!;
    const logits = out.data as Float32Array;
    if (logits.length !== batch * outputWidth(c, this.output)) throw new Error(`onnx: ${logits.length} outputs for a batch of ${batch}`);
    return logits;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export async function createOnnxSession(model: ViTModel, opts: SessionOptions = {}): Promise<InferenceSession> {
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'int8') throw new Error(`engine/onnx: precision ${precision} is not implemented (fp32, int8)`);
  const output = opts.output ?? 'logits';
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(buildOnnxModel(model, { precision, output }), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  });
  return new OnnxSession(model, output, ort, session);
}
