/**
 * `vit-engine/dev`: what tests, fixture scripts and new backends use besides the public API: the float64
 * reference forward, logit comparison, checkpoint internals, safetensors reading and writing, random models.
 */
export { forward64, linear64, layerNorm64, attention64, gelu64, erf64 } from '../model/reference.js';
export { weightSlots, weightTensors, buildWeights, parameterCount, sharedFloat32, type WeightSlot } from '../model/weights.js';
export { randomWeights } from '../model/random.js';
export { compareLogits, compareArrays, type Comparison, type ArrayComparison } from '../engine/compare.js';
export { loadModel, inspectCheckpoint, describeCheckpoint } from '../loaders/checkpoint.js';
export { resamplePosEmbed } from '../loaders/pos-embed.js';
export { resolveModel, hfCacheDir } from '../loaders/hub.js';
export { randomModel } from '../loaders/random.js';
export { readSafetensorsHeader, SafetensorsError } from '../loaders/safetensors/header.js';
export { readSafetensors, readTensorF32 } from '../loaders/safetensors/read.js';
export { openCheckpointFiles } from '../loaders/safetensors/shards.js';
export { readFixture, type Fixture } from '../loaders/fixture.js';
export { encodeSafetensors, type WritableDType } from './safetensors-encode.js';
export { randomArray, xorshiftFill } from '../util/random.js';
export { syntheticModel, type SyntheticDims } from './synthetic.js';
export { buildOnnxModel, quantizeColumns, type GraphOptions } from '../engine/onnx/graph.js';
