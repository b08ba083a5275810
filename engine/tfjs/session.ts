/**
 * InferenceSession on tfjs backends: 'wasm' (XNNPACK, the default on CPU), 'cpu' (plain JS), and
 * 'tensorflow' (libtensorflow through @tensorflow/tfjs-node or -node-gpu, when the user installed one).
 */
import * as tf from '@tensorflow/tfjs-core';
import { outputWidth, type ModelOutput } from '../../model/shapes.js';
import type { ViTModel } from '../../model/weights.js';
import type { BackendName, InferenceSession, SessionOptions } from '../types.js';
import { disposeWeights, forward, uploadWeights } from './forward.js';

const TFJS_NODE_HINT =
  'backend "tensorflow" needs @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1), ' +
  'which are not dependencies of this package: npm install @tensorflow/tfjs-node (it downloads libtensorflow at install time)';

/** Make `backend` the active tfjs backend of this thread (one per thread: tfjs has a global engine). */
export async function useTfjsBackend(backend: BackendName, opts: SessionOptions = {}): Promise<void> {
  // PROD: no debug-mode checks, and no "install tfjs-node" banner from the cpu backend on stderr.
  tf.env().set('PROD', true);
  if (tf.getBackend() === backend) return;
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (opts.threads) wasm.setThreadsCount(opts.threads);
  } else if (backend === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
  } else if (backend === 'tensorflow') {
    let loaded = false;
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      try {
        await import(pkg);
        loaded = true;
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw new Error(`${pkg} failed to load: ${(e as Error).message}`);
      }
    }
    if (!loaded) throw new Error(TFJS_NODE_HINT);
    if (!tf.findBackend('tensorflow')) {
      throw new Error(`@tensorflow/tfjs-node loaded but registered no "tensorflow" backend with this @tensorflow/tfjs-core ${tf.version_core}: install the same version of both`);
    }
  } else {
    throw new Error(`backend "${backend}" is not a tfjs backend`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend "${backend}" failed to initialise`);
  await tf.ready();
}

class TfjsSession implements InferenceSession {
  private weights;
  constructor(
    readonly backend: BackendName,
    readonly model: ViTModel,
    readonly output: ModelOutput,
  ) {
    // wasm: transposed copies for XNNPACK; cpu/tensorflow: PyTorch layout, aliasing the shared memory on cpu.
    this.weights = uploadWeights(tf, model.config, model.weights, backend === 'wasm');
  }

  async run(pixels: Float32Array, batch: number): Promise<Float32Array> {
    const c = this.model.config;
    const [h, w] = c.imageSize;
    const width = outputWidth(c, this.output);
    const expected = batch * c.numChannels * h * w;
    if (pixels.length !== expected) {
      throw new Error(`pixels: ${pixels.length} values, expected ${batch}x${c.numChannels}x${h}x${w} = ${expected}`);
    }
    // wasm runs image by image: its fast kernels are 2-D (see forward.ts), and batch 1 was the fastest per
    // image (DeiT-tiny: 104 ms at batch 1 against 164-197 ms per image at batch 8 through batched kernels).
    const step = this.backend === 'wasm' ? 1 : batch;
    const per = c.numChannels * h * w;
    const result = new Float32Array(batch * width);
    for (let i = 0; i < batch; i += step) {
      const n = Math.min(step, batch - i);
      const out = tf.tidy(() => forward(tf, c, this.weights, tf.tensor4d(pixels.subarray(i * per, (i + n) * per), [n, c.numChannels, h, w]), this.output));
      try {
        const data = (await out.data()) as Float32Array;
        if (data.length !== n * width) throw new Error('unexpected output size');
        result.set(data, i * width);
      } finally {
        out.dispose();
      }
    }
    return result;
  }

  async dispose(): Promise<void> {
    disposeWeights(tf, this.weights);
  }
}

export async function createTfjsSession(model: ViTModel, backend: BackendName, opts: SessionOptions = {}): Promise<InferenceSession> {
  await useTfjsBackend(backend, opts);
  return new TfjsSession(backend, model, opts.output ?? 'logits');
}

/** Live tensor count of this thread's tfjs engine (for leak checks). */
export function tfjsTensorCount(): number {
  return tf.memory().numTensors;
}
