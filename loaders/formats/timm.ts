/**
 * timm `VisionTransformer` checkpoints as timm publishes them on the hub: model.safetensors with timm key
 * names and a config.json with `architecture`, optional `model_args` and
 * `pretrained_cfg`.
 */
import type { PreprocessConfig, ViTConfig } from '../../model/config.js';
import { ARCH_PATTERN, archSizes } from '../architectures.js';
import { imagenet1kLabels } from '../labels.js';
import { checkConfig } from '../check-config.js';
import { sizePair, slotSources, UnsupportedCheckpointError, type FormatSpec } from './spec.js';

type Json = Record<string, unknown>;

/** How its keys look, for messages. */
export const TIMM_KEYS = '"patch_embed.proj.*"';

export function isTimmCheckpoint(names: string[]): boolean {
  return names.includes('patch_embed.proj.weight');
}

/** Tensor names that mean a ViT variant this engine does not run; refused by name. */
const UNSUPPORTED_KEYS: [RegExp, string][] = [
  [/^reg_token$/, 'register tokens (reg_token)'],
  [/^fc_norm\./, 'fc_norm with average pooling'],
  [/\.ls[12]\./, 'layer scale (blocks.N.ls1/ls2)'],
  [/^norm_pre\./, 'pre-norm before the blocks (norm_pre)'],
  [/\.attn\.(q|k)_norm\./, 'qk-norm attention'],
  [/^attn_pool\./, 'attention pooling head (attn_pool)'],
  [/\.attn\.norm\.|\.mlp\.norm\./, 'normalised attention / MLP (scale_attn_norm / scale_mlp_norm)'],
];

/** timm module of each block field. */
const TIMM_BLOCK: Record<string, string> = { norm1: 'norm1', qkv: 'attn.qkv', proj: 'attn.proj', norm2: 'norm2', fc1: 'mlp.fc1', fc2: 'mlp.fc2' };

const DEFAULT_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const DEFAULT_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** timm's eval transform from `pretrained_cfg` (timm's defaults where a field is missing), at the model's image size. */
export function timmPreprocess(pc: Json | undefined, imageSize: [number, number], file: string): PreprocessConfig {
  const p = pc ?? {};
  const interp = String(p.interpolation ?? 'bicubic');
  if (interp !== 'bicubic' && interp !== 'bilinear' && interp !== 'nearest') {
    throw new UnsupportedCheckpointError(file, `pretrained_cfg interpolation "${interp}"`);
  }
  const cropMode = String(p.crop_mode ?? 'center');
  if (cropMode !== 'center' && cropMode !== 'squash') {
    throw new UnsupportedCheckpointError(file, `pretrained_cfg crop_mode "${cropMode}" (only center and squash)`);
  }
  return {
    mode: cropMode === 'squash' ? 'resize' : 'resize-crop',
    size: imageSize,
    cropPct: p.crop_pct === undefined ? 0.875 : Number(p.crop_pct),
    interpolation: interp,
    rescale: 1 / 255,
    mean: (p.mean as [number, number, number]) ?? DEFAULT_MEAN,
    std: (p.std as [number, number, number]) ?? DEFAULT_STD,
  };
}

export function timmSpec(names: string[], cfg: Json | undefined, file: string): FormatSpec {
  for (const [re, what] of UNSUPPORTED_KEYS) {
    if (names.some((n) => re.test(n))) throw new UnsupportedCheckpointError(file, what);
  }
  if (!cfg) throw new UnsupportedCheckpointError(file, 'timm checkpoint without config.json (it gives the number of heads)');
  const arch = String(cfg.architecture ?? '');
  const sizes = archSizes(arch);
  if (!sizes) throw new UnsupportedCheckpointError(file, `architecture "${arch}" (expected ${ARCH_PATTERN})`);
  const args = (cfg.model_args ?? {}) as Json;
  const pc = cfg.pretrained_cfg as Json | undefined;

  const refuse = (cond: boolean, what: string) => {
    if (cond) throw new UnsupportedCheckpointError(file, what);
  };
  refuse(args.class_token === false, 'model_args class_token=false');
  refuse(args.no_embed_class === true, 'model_args no_embed_class=true');
  refuse(Number(args.reg_tokens ?? 0) > 0, 'register tokens (model_args reg_tokens)');
  refuse(args.fc_norm === true, 'model_args fc_norm=true');
  refuse(args.init_values !== undefined && args.init_values !== null, 'layer scale (model_args init_values)');
  refuse(args.qk_norm === true, 'qk-norm attention');
  refuse(args.pre_norm === true, 'pre_norm');
  refuse(args.pos_embed !== undefined && args.pos_embed !== 'learn', `pos_embed "${String(args.pos_embed)}"`);
  const pool = String(args.global_pool ?? cfg.global_pool ?? 'token');
  refuse(pool !== 'token', `global_pool "${pool}" (only the class token)`);
  refuse(args.act_layer !== undefined && args.act_layer !== 'gelu', `act_layer "${String(args.act_layer)}"`);

  const distilled = names.includes('dist_token');
  refuse(Boolean(sizes.distilled) !== distilled, `architecture "${arch}" ${distilled ? 'without' : 'with'} "distilled" in its name but ${distilled ? 'a' : 'no'} dist_token`);
  refuse(distilled && names.includes('head.weight') && !names.includes('head_dist.weight'), 'dist_token and head without head_dist');
  const embedDim = Number(args.embed_dim ?? sizes.embedDim);
  const depth = Number(args.depth ?? sizes.depth);
  const imageSize = sizePair(args.img_size) ?? (pc?.input_size ? sizePair((pc.input_size as number[]).slice(1)) : undefined) ?? [sizes.imgSize, sizes.imgSize];
  const numClasses = names.includes('head.weight') ? Number(args.num_classes ?? cfg.num_classes ?? 1000) : 0;
  const labelNames = cfg.label_names ?? pc?.label_names;
  const labels = Array.isArray(labelNames) && labelNames.length === numClasses ? labelNames.map(String) : numClasses === 1000 ? imagenet1kLabels() : undefined;

  const config: ViTConfig = {
    format: 'timm',
    architecture: arch,
    imageSize,
    patchSize: Number(args.patch_size ?? sizes.patchSize),
    numChannels: Number(args.in_chans ?? 3),
    hiddenSize: embedDim,
    numLayers: depth,
    numHeads: Number(args.num_heads ?? sizes.numHeads),
    mlpDim: Math.round(embedDim * Number(args.mlp_ratio ?? sizes.mlpRatio)),
    numClasses,
    layerNormEps: 1e-6,
    qkvBias: args.qkv_bias !== false,
    hiddenAct: 'gelu',
    ...(distilled ? { distilled: true } : {}),
    labels,
    preprocess: timmPreprocess(pc, imageSize, file),
    posEmbedResample: 'timm',
  };

  checkConfig(config, 'config.json'); // before the key map is built from its sizes
  const sources = slotSources(config, (path) => {
    const [part, ...rest] = path.split('.');
    const field = rest.at(-1)!;
    if (part === 'cls') return ['cls_token'];
    if (part === 'dist') return ['dist_token'];
    if (part === 'headDist') return [`head_dist.${field}`];
    if (part === 'pos') return ['pos_embed'];
    if (part === 'patchEmbed') return [`patch_embed.proj.${field}`];
    if (part === 'norm' || part === 'head') return [path];
    const [layer, module] = rest as [string, string];
    return [`blocks.${layer}.${TIMM_BLOCK[module]}.${field}`];
  });
  return { config, sources, ignored: [] };
}
