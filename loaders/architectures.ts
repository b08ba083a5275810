/**
 * Named ViT architectures (timm names) and their sizes. `model_args` in a timm config.json override these.
 */

export interface ArchSizes {
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  patchSize: number;
  imgSize: number;
  /** deit_*_distilled_*: a distillation token and head. */
  distilled?: boolean;
}

const WIDTHS: Record<string, Pick<ArchSizes, 'embedDim' | 'depth' | 'numHeads'>> = {
  tiny: { embedDim: 192, depth: 12, numHeads: 3 },
  small: { embedDim: 384, depth: 12, numHeads: 6 },
  base: { embedDim: 768, depth: 12, numHeads: 12 },
  large: { embedDim: 1024, depth: 24, numHeads: 16 },
  huge: { embedDim: 1280, depth: 32, numHeads: 16 },
};

/** Families whose names follow `<family>_<width>_patch<P>_<size>`; DeiT has no large/huge. */
const FAMILIES: Record<string, string[]> = {
  vit: ['tiny', 'small', 'base', 'large', 'huge'],
  deit: ['tiny', 'small', 'base'],
};

/**
 * Sizes for a timm architecture name such as `vit_base_patch16_224` or `deit_tiny_patch16_224.fb_in1k`
 * (a pretrained tag after the dot is ignored; `-` and `_` are interchangeable).
 * Returns undefined for names outside the vit/deit families.
 */
export function archSizes(name: string): ArchSizes | undefined {
  const base = name.split('.')[0]!.replace(/-/g, '_');
  const m = /^(vit|deit)_(tiny|small|base|large|huge)(_distilled)?_patch(\d+)_(\d+)$/.exec(base);
  if (!m) return undefined;
  const [, family, width, distilled, patch, size] = m as unknown as [string, string, string, string | undefined, string, string];
  if (!FAMILIES[family]!.includes(width) || (distilled && family !== 'deit')) return undefined;
  return { ...WIDTHS[width]!, mlpRatio: 4, patchSize: Number(patch), imgSize: Number(size), ...(distilled ? { distilled: true } : {}) };
}

/** Names `archSizes` understands, for help text and errors. */
export const ARCH_PATTERN = 'vit_{tiny,small,base,large,huge}_patch{N}_{size} or deit_{tiny,small,base}[_distilled]_patch{N}_{size}';
