/**
 * The configuration of a Vision Transformer: what every loader produces and every backend reads
 * (with the weights in model/weights.ts and the derived sizes in model/shapes.ts).
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
  /** Output size [height, width]: always the model's `imageSize` (loaders and withImageSize keep them equal). */
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
  /** Input resolution [height, width] the position embedding is made for: the one source of the image size. */
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
  /**
   * Distilled DeiT: a distillation token after the class token (2 prefix tokens) and a second head on it;
   * logits are (head(cls) + headDist(dist)) / 2, as timm and HF compute them in eval mode.
   */
  distilled?: boolean;
  /** Class names, index-aligned with the logits, when known. */
  labels?: string[];
  preprocess: PreprocessConfig;
  /** Default position-embedding resampling convention for this checkpoint. */
  posEmbedResample: PosEmbedResample;
}
