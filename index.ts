/**
 * vit-engine as a library. The CLI (`vit`) is built on exactly these pieces.
 *
 *   import { openModel, createSession, preprocessImage } from 'vit-engine';
 *   const model = await openModel('google/vit-base-patch16-224');        // or a directory, or random:<arch>
 *   const session = await createSession(model, 'wasm');                 // 'cpu', 'tensorflow', 'webgpu'
 *   const pixels = await preprocessImage('cat.jpg', model.config.preprocess);
 *   const logits = await session.run(pixels, 1);
 */
export type { PreprocessConfig, ViTConfig, ViTModel, Weights, Tensor } from './engine/config.js';
export { createSession, type BackendName, type InferenceSession, type SessionOptions } from './engine/session.js';
export { compareLogits, topK, type Comparison } from './engine/compare.js';
export { decodeImage, preprocessImage, preprocessDecoded } from './engine/preprocess.js';
export { openModel, parseImageSize, type OpenModelOptions } from './loaders/index.js';
export { loadModel, withImageSize, inspectCheckpoint, UnsupportedCheckpointError, CheckpointMismatchError } from './loaders/checkpoint.js';
export { resamplePosEmbed } from './loaders/pos-embed.js';
export { resolveModel, hfCacheDir } from './loaders/hub.js';
export { randomModel } from './loaders/random.js';
export { readSafetensors, readSafetensorsHeader, openCheckpointFiles, encodeSafetensors, SafetensorsError } from './loaders/safetensors.js';
export { readFixture, type Fixture } from './loaders/fixture.js';
export { InferencePool, type PoolOptions } from './workers/pool.js';
export { softmaxTopK } from './workers/scores.js';
