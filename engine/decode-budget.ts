/**
 * Memory bounds for decoding: a rule for when an image is reduced while it is decoded, and a budget of
 * pixels decoded at once (per thread: each worker has its own).
 *
 * The rule: an image of at most FULL_DECODE_MAX_PIXELS (2^26, 67 MP) decodes at full size, exactly as PIL
 * does. A larger one is reduced by sharp as it decodes (streamed, shrink-on-load where the format has it,
 * then lanczos3), keeping its aspect ratio, to the size whose short side is 4x what the model's resize needs
 * (the target's longest side, over crop_pct for a resize-crop pipeline); the Pillow-exact resampler then does
 * the last step. Results for such images differ slightly from PIL's; all others are unchanged.
 */
export const FULL_DECODE_MAX_PIXELS = 2 ** 26;

/** Where the decoded image goes: enough to choose how far a huge image may be reduced on decode. */
export interface DecodeTarget {
  /** Model input [height, width]. */
  size: [number, number];
  /** timm crop_pct for resize-crop pipelines (the resize is size / cropPct); 1 for plain resize. */
  cropPct: number;
}

/** The longest side to reduce an image of width x height to on decode, or undefined to decode it at full size. */
export function shrinkOnDecode(width: number, height: number, target: DecodeTarget | undefined): number | undefined {
  if (!target || width * height <= FULL_DECODE_MAX_PIXELS) return undefined;
  const need = (4 * Math.max(...target.size)) / Math.min(target.cropPct, 1);
  const scale = need / Math.min(width, height);
  return scale < 1 ? Math.ceil(Math.max(width, height) * scale) : undefined;
}

/** Pixels decoded at once in this thread: a decode waits until its pixels fit (one larger than all runs alone). */
export class PixelBudget {
  private used = 0;
  private readonly waiting: { n: number; go: () => void }[] = [];

  constructor(readonly pixels: number) {}

  async acquire(pixels: number): Promise<() => void> {
    const n = Math.min(pixels, this.pixels);
    if (this.used + n > this.pixels || this.waiting.length) await new Promise<void>((go) => this.waiting.push({ n, go }));
    else this.used += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
      while (this.waiting.length && this.used + this.waiting[0]!.n <= this.pixels) {
        const w = this.waiting.shift()!;
        this.used += w.n;
        w.go();
      }
    };
  }
}

/** This thread's budget: one full-size decode of the largest image decoded whole, or several smaller ones. */
export const decodeBudget = new PixelBudget(FULL_DECODE_MAX_PIXELS);
