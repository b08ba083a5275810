/**
 * Page-locking of the caller's pixel buffers, so a batch uploads by DMA straight from them (no copy through the
 * plan's pinned staging buffer: at batch 256 that copy is 154 MB of host memcpy per batch, the wall-time limit
 * of the 16-bit paths on a slow host). Only SharedArrayBuffers (they cannot be detached or moved) of at least
 * MIN_BYTES, and only the second time one is seen (the pool and `vit bench` reuse theirs; a one-off buffer is not
 * worth page-locking). At most MAX_PINNED at once, least recently used first out. The first DMA from a registered
 * buffer is read back and compared before it is trusted; any failure turns pinning off for the session.
 */
import type { CudaApi } from './driver.js';

const MIN_BYTES = 1 << 20;
const MAX_PINNED = 8;
const CU_MEMHOSTREGISTER_PORTABLE = 1;

export class HostPins {
  /** Buffers seen once (not kept alive by this set). */
  private readonly seen = new WeakSet<SharedArrayBuffer>();
  /** Registered buffers, least recently used first. */
  private readonly pinnedBufs = new Map<SharedArrayBuffer, Uint8Array>();
  /** Why pinning is off, once it is. */
  disabled: string | undefined;
  /** Whether a DMA from a registered buffer has been checked. */
  verified = false;

  constructor(private readonly api: CudaApi) {}

  /** Whether `view`'s memory is page-locked now (registering its buffer if it was seen before). */
  pinned(view: ArrayBufferView): boolean {
    const buf = view.buffer;
    if (this.disabled || !(buf instanceof SharedArrayBuffer) || buf.byteLength < MIN_BYTES) return false;
    const hit = this.pinnedBufs.get(buf);
    if (hit) {
      this.pinnedBufs.delete(buf);
      this.pinnedBufs.set(buf, hit);
      return true;
    }
    if (!this.seen.has(buf)) {
      this.seen.add(buf);
      return false;
    }
    this.evict(MAX_PINNED - 1);
    const bytes = new Uint8Array(buf);
    let r: number;
    try {
      r = this.api.cu.cuMemHostRegister(bytes, buf.byteLength, CU_MEMHOSTREGISTER_PORTABLE) as number;
    } catch (err) {
      this.disabled = `cuMemHostRegister: ${(err as Error).message}`;
      return false;
    }
    if (r !== 0) {
      this.disabled = `cuMemHostRegister returned ${r}`;
      return false;
    }
    this.pinnedBufs.set(buf, bytes);
    return true;
  }

  /** Pinning off for good (a failed check): everything unregistered. */
  disable(why: string): void {
    this.disabled = why;
    this.evict(0);
  }

  /** Unregisters the least recently used buffers until at most `keep` stay (once the device is idle). */
  private evict(keep: number): void {
    if (this.pinnedBufs.size <= keep) return;
    this.api.cu.cuCtxSynchronize(); // no DMA may still read what is unregistered
    for (const [b, bytes] of this.pinnedBufs) {
      if (this.pinnedBufs.size <= keep) break;
      this.api.cu.cuMemHostUnregister(bytes);
      this.pinnedBufs.delete(b);
    }
  }

  dispose(): void {
    this.evict(0);
  }
}
