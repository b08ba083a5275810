/**
 * vit-engine as a library: pipeline() for one-call classification and feature extraction; below it, load a
 * model, run it, classify. The CLI (`vit`) is built on these pieces;
 * test and development utilities are in `vit-engine/dev`.
 *
 *   import { openModel, createSession, preprocessImage, softmaxTopK } from 'vit-engine';
 *   const model = await openModel('google/vit-base-patch16-224');        // or a directory, or random:<arch>
 *   const session = await createSession(model, await defaultCpuBackend()); // 'onnx', 'wasm', 'cpu', 'tensorflow', 'webgpu'
 *   const pixels = await preprocessImage('cat.jpg', model.config.preprocess);
 *   const top = softmaxTopK(await session.run(pixels, 1), 5, model.config.labels);
 */
export type { PreprocessConfig, ViTConfig } from './model/config.js';
export type { ViTModel, ViTWeights, BlockWeights, Linear, LayerNormW, Tensor } from './model/weights.js';
export { modelShapes, outputWidth, MODEL_OUTPUTS, type ModelOutput, type ModelShapes } from './model/shapes.js';
export { createSession, defaultCpuBackend, checkBackend, type BackendName, type InferenceSession, type Precision, type SessionOptions } from './engine/session.js';
export { softmaxTopK, topK, type TopEntry } from './engine/postprocess.js';
export { decodeImage, preprocessImage, preprocessDecoded } from './engine/preprocess.js';
export { openModel, parseImageSize, type OpenModelOptions } from './loaders/index.js';
export { withImageSize, UnsupportedCheckpointError, CheckpointMismatchError } from './loaders/checkpoint.js';
export { InferencePool, type PoolOptions } from './workers/pool.js';
export {
  pipeline,
  l2normalize,
  type Classification,
  type ClassificationOptions,
  type CallOptions,
  type FeatureOptions,
  type ImageClassificationPipeline,
  type ImageFeatureExtractionPipeline,
  type ImageInput,
  type Inputs,
  type PipelineOptions,
  type RawImage,
} from './pipeline/index.js';
