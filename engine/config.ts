/**
 * The one description of a Vision Transformer that every backend reads.
 *
 * Checkpoint loaders (loaders/checkpoint.ts) turn Hugging Face or timm files into a `ViTConfig`
 * plus canonical `Weights`; backends never see a checkpoint's own key names.
 */

/** Which reference implementation a checkpoint comes from; decides defaults such as resampling. */
export type CheckpointFormat = 'hf' | 'timm';

/** How position embeddings are resampled to a new grid (see loaders/pos-embed.ts). */
export type PosEmbedResample = 'hf' | 'timm';

/** Image preprocessing as the checkpoint's own pipeline does it (see engine/preprocess.ts). */
export interface PreprocessConfig {
  /**
   * 'resize': resize straight to [height, width] (HF ViTImageProcessor).
   * 'resize-crop': resize the shortest edge to floor(size / cropPct), then center-crop to size (timm eval).
   */
  mode: 'resize' | 'resize-crop';
  /** Output size [height, width] for the model's native resolution. */
  size: [number, number];
  /** timm crop_pct (only for 'resize-crop'). */
  cropPct: number;
  interpolation: 'bilinear' | 'bicubic' | 'nearest';
  /** Applied to 0..255 values before normalising (HF rescale_factor; 1/255 for timm). */
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

export interface ViTConfig {
  format: CheckpointFormat;
  /** Architecture name as the checkpoint gives it (timm `architecture`, HF `architectures[0]`). */
  architecture: string;
  /** Native resolution [height, width] the position embeddings were trained for. */
  imageSize: [number, number];
  patchSize: number;
  numChannels: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP hidden width (HF intermediate_size, timm embed_dim * mlp_ratio). */
  mlpDim: number;
  /** Number of classifier outputs; 0 for a headless backbone (HF ViTModel), whose output is the final CLS feature. */
  numClasses: number;
  layerNormEps: number;
  qkvBias: boolean;
  /** 'gelu' is the exact erf form (PyTorch nn.GELU() / HF "gelu"); 'gelu_tanh' the tanh approximation. */
  hiddenAct: 'gelu' | 'gelu_tanh';
  /** Class names, index-aligned with the logits, when known. */
  labels?: string[];
  preprocess: PreprocessConfig;
  /** Default position-embedding resampling convention for this checkpoint. */
  posEmbedResample: PosEmbedResample;
}

/**
 * Canonical weights: timm key names, PyTorch layouts, float32. Every array is a view on a
 * SharedArrayBuffer so that worker threads share one copy (structured clone keeps the memory shared).
 *
 *   cls_token                     [1, 1, D]
 *   pos_embed                     [1, 1 + gh*gw, D]
 *   patch_embed.proj.weight       [D, C, P, P]      patch_embed.proj.bias  [D]
 *   blocks.{i}.norm1.weight/bias  [D]
 *   blocks.{i}.attn.qkv.weight    [3D, D]           blocks.{i}.attn.qkv.bias [3D]  (q, k, v stacked)
 *   blocks.{i}.attn.proj.weight   [D, D]            .bias [D]
 *   blocks.{i}.norm2.weight/bias  [D]
 *   blocks.{i}.mlp.fc1.weight     [M, D]            .bias [M]
 *   blocks.{i}.mlp.fc2.weight     [D, M]            .bias [D]
 *   norm.weight/bias              [D]
 *   head.weight                   [K, D]            head.bias [K]   (absent when numClasses is 0)
 */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export type Weights = Record<string, Tensor>;

/** A loaded model: what every backend and worker receives. */
export interface ViTModel {
  config: ViTConfig;
  weights: Weights;
  /** Where it came from (a directory, a hub id, or 'random:<arch>'), for messages. */
  source: string;
}

/** Grid of patches [rows, cols] for an input of height x width pixels. */
export function patchGrid(config: ViTConfig, height: number, width: number): [number, number] {
  return [Math.floor(height / config.patchSize), Math.floor(width / config.patchSize)];
}

/** Number of tokens (class token + patches) for an input of height x width pixels. */
export function tokenCount(config: ViTConfig, height: number, width: number): number {
  const [gh, gw] = patchGrid(config, height, width);
  return 1 + gh * gw;
}

/** Grid [rows, cols] that the position embedding in `weights` was made for. */
export function posEmbedGrid(config: ViTConfig): [number, number] {
  return patchGrid(config, config.imageSize[0], config.imageSize[1]);
}

/** Parameter count of the canonical weights. */
export function parameterCount(weights: Weights): number {
  let n = 0;
  for (const t of Object.values(weights)) n += t.data.length;
  return n;
}

/** A new float32 array on shared memory, so worker threads can map it without copying. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * 4));
}
