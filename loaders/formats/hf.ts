/**
 * Hugging Face `ViTForImageClassification` / `ViTModel` checkpoints: config.json, preprocessor_config.json,
 * and the key map onto the canonical (timm) names.
 */
import type { PreprocessConfig, ViTConfig } from '../../engine/config.js';
import { checkConfig } from '../check-config.js';
import { sizePair, UnsupportedCheckpointError, type FormatSpec } from './spec.js';

type Json = Record<string, unknown>;

export function isHfCheckpoint(names: string[]): boolean {
  return names.some((n) => /^(vit\.)?embeddings\.patch_embeddings\.projection\.weight$/.test(n));
}

const RESAMPLE: Record<number, PreprocessConfig['interpolation']> = { 0: 'nearest', 2: 'bilinear', 3: 'bicubic' };

/** ViTImageProcessor's pipeline from preprocessor_config.json (its defaults where a field or the file is missing). */
export function hfPreprocess(pre: Json | undefined, imageSize: [number, number], file: string): PreprocessConfig {
  const p = pre ?? {};
  const size = p.size as Json | number | undefined;
  let out: [number, number] = imageSize;
  if (typeof size === 'number') out = [size, size];
  else if (size && typeof size === 'object') {
    if (size.height !== undefined && size.width !== undefined) out = [Number(size.height), Number(size.width)];
    else if (size.shortest_edge !== undefined) out = [Number(size.shortest_edge), Number(size.shortest_edge)];
  }
  if (p.do_resize === false) throw new UnsupportedCheckpointError(file, 'preprocessor_config.json with do_resize false');
  const resample = p.resample === undefined ? 2 : Number(p.resample);
  const interpolation = RESAMPLE[resample];
  if (!interpolation) throw new UnsupportedCheckpointError(file, `preprocessor resample=${resample} (only 0 nearest, 2 bilinear, 3 bicubic)`);
  const normalize = p.do_normalize !== false;
  return {
    mode: 'resize',
    size: out,
    cropPct: 1,
    interpolation,
    rescale: p.do_rescale === false ? 1 : p.rescale_factor === undefined ? 1 / 255 : Number(p.rescale_factor),
    mean: normalize ? ((p.image_mean as [number, number, number]) ?? [0.5, 0.5, 0.5]) : [0, 0, 0],
    std: normalize ? ((p.image_std as [number, number, number]) ?? [0.5, 0.5, 0.5]) : [1, 1, 1],
  };
}

export function hfSpec(names: string[], cfg: Json | undefined, pre: Json | undefined, file: string): FormatSpec {
  if (!cfg) throw new UnsupportedCheckpointError(file, 'Hugging Face checkpoint without config.json (it gives the number of heads)');
  if (cfg.model_type !== undefined && cfg.model_type !== 'vit') {
    throw new UnsupportedCheckpointError(file, `model_type "${String(cfg.model_type)}" (only "vit")`);
  }
  const prefix = names.some((n) => n.startsWith('vit.')) ? 'vit.' : '';
  const act = String(cfg.hidden_act ?? 'gelu');
  let hiddenAct: ViTConfig['hiddenAct'];
  if (act === 'gelu') hiddenAct = 'gelu';
  else if (act === 'gelu_new' || act === 'gelu_pytorch_tanh') hiddenAct = 'gelu_tanh';
  else throw new UnsupportedCheckpointError(file, `hidden_act "${act}"`);

  const hasHead = names.includes('classifier.weight');
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
    architecture: Array.isArray(cfg.architectures) ? String(cfg.architectures[0]) : hasHead ? 'ViTForImageClassification' : 'ViTModel',
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
    labels,
    preprocess: hfPreprocess(pre, imageSize, file),
    posEmbedResample: 'hf',
  };

  checkConfig(config, 'preprocessor_config.json'); // before the key map is built from its sizes
  const sources = new Map<string, string[]>();
  const e = `${prefix}embeddings.`;
  sources.set('cls_token', [`${e}cls_token`]);
  sources.set('pos_embed', [`${e}position_embeddings`]);
  for (const s of ['weight', 'bias']) sources.set(`patch_embed.proj.${s}`, [`${e}patch_embeddings.projection.${s}`]);
  const linear = (to: string, from: string, withBias = true) => {
    sources.set(`${to}.weight`, [`${from}.weight`]);
    if (withBias) sources.set(`${to}.bias`, [`${from}.bias`]);
  };
  for (let i = 0; i < numLayers; i++) {
    const l = `${prefix}encoder.layer.${i}.`;
    const b = `blocks.${i}.`;
    linear(`${b}norm1`, `${l}layernorm_before`);
    const qkv = ['query', 'key', 'value'].map((n) => `${l}attention.attention.${n}`);
    sources.set(`${b}attn.qkv.weight`, qkv.map((n) => `${n}.weight`));
    if (config.qkvBias) sources.set(`${b}attn.qkv.bias`, qkv.map((n) => `${n}.bias`));
    linear(`${b}attn.proj`, `${l}attention.output.dense`);
    linear(`${b}norm2`, `${l}layernorm_after`);
    linear(`${b}mlp.fc1`, `${l}intermediate.dense`);
    linear(`${b}mlp.fc2`, `${l}output.dense`);
  }
  linear('norm', `${prefix}layernorm`);
  if (hasHead) linear('head', 'classifier');
  // The pooler (ViTModel's tanh dense on the class token) and the masked-image-modeling token are not part of
  // classification or of the final class-token features; they are read past, not used.
  const ignored = names.filter((n) => n.startsWith(`${prefix}pooler.`) || n === `${e}mask_token`);
  return { config, sources, ignored };
}
