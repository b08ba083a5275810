/**
 * The progress bar of `vit classify` / `vit embed`: one line on stderr, drawn only on a terminal. Records
 * written to the same terminal go through `around`, which clears the bar line, writes the records and draws
 * the bar again below them, so neither corrupts the other; `stop` clears the bar, leaving the line to the
 * summary. The total reads "counting" until the input walk has been counted.
 */
const CLEAR_LINE = '\r\x1b[2K';
const WIDTH = 24;

export class ProgressLine {
  private done = 0;
  private total: number | undefined;
  private drawn = false;
  private stopped = false;
  private lastDraw = 0;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    private readonly err: NodeJS.WriteStream = process.stderr,
  ) {
    this.draw();
  }

  setTotal(n: number): void {
    this.total = n;
    this.draw();
  }

  update(done: number): void {
    this.done = done;
    // At most 10 frames a second, and always the last one.
    if (performance.now() - this.lastDraw >= 100 || done === this.total) this.draw();
  }

  /** Run `write` (records to the same terminal) with the bar cleared, then draw it again. */
  async around<T>(write: () => Promise<T>): Promise<T> {
    this.clear();
    try {
      return await write();
    } finally {
      this.draw();
    }
  }

  stop(): void {
    this.clear();
    this.stopped = true;
  }

  /** The bar's text at this moment. */
  frame(): string {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    if (this.total === undefined) return `${this.label} ${this.done} images (counting inputs) | ${rate.toFixed(1)} img/s`;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const fill = Math.round(frac * WIDTH);
    const eta = rate > 0 ? `${Math.ceil((this.total - this.done) / rate)}s` : '?';
    return `${this.label} |${'#'.repeat(fill)}${'-'.repeat(WIDTH - fill)}| ${this.done}/${this.total} images | ${rate.toFixed(1)} img/s | ETA ${eta}`;
  }

  private draw(): void {
    if (this.stopped) return;
    const columns = this.err.columns || 80;
    this.err.write(`${CLEAR_LINE}${this.frame().slice(0, Math.max(1, columns - 1))}`);
    this.drawn = true;
    this.lastDraw = performance.now();
  }

  private clear(): void {
    if (this.drawn) this.err.write(CLEAR_LINE);
    this.drawn = false;
  }
}
