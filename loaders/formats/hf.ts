/**
 * Hugging Face `ViTForImageClassification` / `ViTModel` checkpoints: config.json, preprocessor_config.json,
 * and the key map onto the model's weight slots.
 */
import type { PreprocessConfig, ViTConfig } from '../../model/config.js';
import { checkConfig } from '../check-config.js';
import { sizePair, slotSources, UnsupportedCheckpointError, type FormatSpec } from './spec.js';

type Json = Record<string, unknown>;

/** How its keys look, for messages. */
export const HF_KEYS = '"vit.embeddings.patch_embeddings.*"';

export function isHfCheckpoint(names: string[]): boolean {
  return names.some((n) => /^(vit\.|deit\.)?embeddings\.patch_embeddings\.projection\.weight$/.test(n));
}

/** HF module of each block field. */
const HF_BLOCK: Record<string, string> = {
  norm1: 'layernorm_before',
  proj: 'attention.output.dense',
  norm2: 'layernorm_after',
  fc1: 'intermediate.dense',
  fc2: 'output.dense',
};

const RESAMPLE: Record<number, PreprocessConfig['interpolation']> = { 0: 'nearest', 2: 'bilinear', 3: 'bicubic' };

/**
 * ViTImageProcessor's pipeline from preprocessor_config.json (its defaults where a field or the file is missing).
 * The output size is the model's image size (config.json image_size), the one source of it.
 */
export function hfPreprocess(pre: Json | undefined, imageSize: [number, number], file: string): PreprocessConfig {
  const p = pre ?? {};
  if (p.do_resize === false) throw new UnsupportedCheckpointError(file, 'preprocessor_config.json with do_resize false');
  const resample = p.resample === undefined ? 2 : Number(p.resample);
  const interpolation = RESAMPLE[resample];
  if (!interpolation) throw new UnsupportedCheckpointError(file, `preprocessor resample=${resample} (only 0 nearest, 2 bilinear, 3 bicubic)`);
  const normalize = p.do_normalize !== false;
  return {
    mode: 'resize',
    size: imageSize,
    cropPct: 1,
    interpolation,
    rescale: p.do_rescale === false ? 1 : p.rescale_factor === undefined ? 1 / 255 : Number(p.rescale_factor),
    mean: normalize ? ((p.image_mean as [number, number, number]) ?? [0.5, 0.5, 0.5]) : [0, 0, 0],
    std: normalize ? ((p.image_std as [number, number, number]) ?? [0.5, 0.5, 0.5]) : [1, 1, 1],
  };
}

export function hfSpec(names: string[], cfg: Json | undefined, pre: Json | undefined, file: string): FormatSpec {
  if (!cfg) throw new UnsupportedCheckpointError(file, 'Hugging Face checkpoint without config.json (it gives the number of heads)');
  if (cfg.model_type !== undefined && cfg.model_type !== 'vit' && cfg.model_type !== 'deit') {
    throw new UnsupportedCheckpointError(file, `model_type "${String(cfg.model_type)}" (only "vit" and "deit")`);
  }
  const prefix = names.some((n) => n.startsWith('vit.')) ? 'vit.' : names.some((n) => n.startsWith('deit.')) ? 'deit.' : '';
  // DeiT (DeiTModel, DeiTForImageClassificationWithTeacher): a distillation token; two heads averaged.
  const distilled = names.includes(`${prefix}embeddings.distillation_token`);
  if (distilled && names.includes('classifier.weight')) {
    throw new UnsupportedCheckpointError(file, 'DeiTForImageClassification (a distillation token, one head on the class token): use DeiTForImageClassificationWithTeacher');
  }
  const act = String(cfg.hidden_act ?? 'gelu');
  let hiddenAct: ViTConfig['hiddenAct'];
  if (act === 'gelu') hiddenAct = 'gelu';
  else if (act === 'gelu_new' || act === 'gelu_pytorch_tanh') hiddenAct = 'gelu_tanh';
  else throw new UnsupportedCheckpointError(file, `hidden_act "${act}"`);

  const hasHead = names.includes(distilled ? 'cls_classifier.weight' : 'classifier.weight');
  if (distilled && hasHead !== names.includes('distillation_classifier.weight')) throw new UnsupportedCheckpointError(file, 'cls_classifier without distillation_classifier');
  const numLayers = Number(cfg.num_hidden_layers ?? 12);
  const hiddenSize = Number(cfg.hidden_size ?? 768);
  const imageSize = sizePair(cfg.image_size) ?? [224, 224];
  let numClasses = 0;
  let labels: string[] | undefined;
  if (hasHead) {
    const id2label = cfg.id2label as Record<string, string> | undefined;
    numClasses = id2label ? Object.keys(id2label).length : Number(cfg.num_labels ?? 2);
    if (id2label) labels = Array.from({ length: numClasses }, (_, i) => id2label[String(i)] ?? `LABEL_${i}`);
  }
  const config: ViTConfig = {
    format: 'hf',
    architecture: Array.isArray(cfg.architectures) ? String(cfg.architectures[0]) : `${distilled ? 'DeiT' : 'ViT'}${hasHead ? (distilled ? 'ForImageClassificationWithTeacher' : 'ForImageClassification') : 'Model'}`,
    imageSize,
    patchSize: (sizePair(cfg.patch_size) ?? [16, 16])[0],
    numChannels: Number(cfg.num_channels ?? 3),
    hiddenSize,
    numLayers,
    numHeads: Number(cfg.num_attention_heads ?? 12),
    mlpDim: Number(cfg.intermediate_size ?? 3072),
    numClasses,
    layerNormEps: Number(cfg.layer_norm_eps ?? 1e-12),
    qkvBias: cfg.qkv_bias !== false,
    hiddenAct,
    ...(distilled ? { distilled: true } : {}),
    labels,
    preprocess: hfPreprocess(pre, imageSize, file),
    posEmbedResample: 'hf',
  };

  checkConfig(config, 'preprocessor_config.json'); // before the key map is built from its sizes
  const e = `${prefix}embeddings.`;
  const sources = slotSources(config, (path) => {
    const [part, ...rest] = path.split('.');
    const field = rest.at(-1)!;
    if (part === 'cls') return [`${e}cls_token`];
    if (part === 'dist') return [`${e}distillation_token`];
    if (part === 'headDist') return [`distillation_classifier.${field}`];
    if (part === 'pos') return [`${e}position_embeddings`];
    if (part === 'patchEmbed') return [`${e}patch_embeddings.projection.${field}`];
    if (part === 'norm') return [`${prefix}layernorm.${field}`];
    if (part === 'head') return [`${distilled ? 'cls_classifier' : 'classifier'}.${field}`];
    const [layer, module] = rest as [string, string];
    const l = `${prefix}encoder.layer.${layer}.`;
    if (module === 'qkv') return ['query', 'key', 'value'].map((n) => `${l}attention.attention.${n}.${field}`);
    return [`${l}${HF_BLOCK[module]}.${field}`];
  });
  // The pooler (ViTModel's tanh dense on the class token) and the masked-image-modeling token are not part of
  // classification or of the final class-token features; they are read past, not used.
  const ignored = names.filter((n) => n.startsWith(`${prefix}pooler.`) || n === `${e}mask_token`);
  return { config, sources, ignored };
}
