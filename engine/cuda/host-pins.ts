/**
 * Page-locking of the caller's pixel buffers, so a batch uploads by DMA straight from them (no copy through the
 * plan's pinned staging buffer: at batch 256 that copy is 154 MB of host memcpy per batch, the wall-time limit
 * of the 16-bit paths on a slow host). Only SharedArrayBuffers (they cannot be detached or moved) of at least
 * MIN_BYTES, and only the second time one is seen (the pool and `vit bench` reuse theirs; a one-off buffer is not
 * worth page-locking). Buffers are known by the address of their memory: a worker gets a new SharedArrayBuffer
 * object for the same memory with every message. At most MAX_PINNED at once, least recently used first out; a
 * pinned buffer is held (so its memory outlives its registration). Memory another session registered first (a
 * worker on another GPU) is used and left to it: an upload from memory that is no longer page-locked is still
 * correct, only staged by the driver. The first DMA from a registered buffer is read back and compared before it
 * is trusted; any failure turns pinning off for the session.
 */

const MIN_BYTES = 1 << 20;
const MAX_PINNED = 8;
const MAX_SEEN = 64;
const CU_MEMHOSTREGISTER_PORTABLE = 1;
/** Another session of this process (a worker on another GPU) registered the memory first: use it, never unregister. */
const CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;

/** The driver calls this needs (a CudaApi's `cu`), and the address of a view's memory (koffi.address). */
export interface PinDriver {
  cuMemHostRegister(p: Uint8Array, bytes: number, flags: number): unknown;
  cuMemHostUnregister(p: Uint8Array): unknown;
  cuCtxSynchronize(): unknown;
}

export class HostPins {
  /** Buffers seen once, by key (address:bytes), oldest first. */
  private readonly seen = new Set<string>();
  /** Registered buffers by key, least recently used first; the view keeps the memory alive; `owned`: ours to unregister. */
  private readonly pinnedBufs = new Map<string, { bytes: Uint8Array; owned: boolean }>();
  /** Why pinning is off, once it is. */
  disabled: string | undefined;
  /** Whether a DMA from a registered buffer has been checked. */
  verified = false;

  constructor(
    private readonly cu: PinDriver,
    private readonly address: (view: ArrayBufferView) => bigint,
  ) {}

  /** Whether `view`'s memory is page-locked now (registering its buffer if it was seen before). */
  pinned(view: ArrayBufferView): boolean {
    const buf = view.buffer;
    if (this.disabled || !(buf instanceof SharedArrayBuffer) || buf.byteLength < MIN_BYTES) return false;
    const bytes = new Uint8Array(buf);
    let key: string;
    try {
      key = `${this.address(bytes)}:${buf.byteLength}`;
    } catch (err) {
      this.disabled = `no address for a shared buffer: ${(err as Error).message}`;
      return false;
    }
    const hit = this.pinnedBufs.get(key);
    if (hit) {
      this.pinnedBufs.delete(key);
      this.pinnedBufs.set(key, hit);
      return true;
    }
    if (!this.seen.has(key)) {
      this.seen.add(key);
      if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value!);
      return false;
    }
    this.seen.delete(key);
    this.evict(MAX_PINNED - 1);
    let r: unknown;
    try {
      r = this.cu.cuMemHostRegister(bytes, buf.byteLength, CU_MEMHOSTREGISTER_PORTABLE);
    } catch (err) {
      this.disabled = `cuMemHostRegister: ${(err as Error).message}`;
      return false;
    }
    if (r !== 0 && r !== CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
      this.disabled = `cuMemHostRegister returned ${String(r)}`;
      return false;
    }
    this.pinnedBufs.set(key, { bytes, owned: r === 0 });
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
    this.cu.cuCtxSynchronize(); // no DMA may still read what is unregistered
    for (const [key, e] of this.pinnedBufs) {
      if (this.pinnedBufs.size <= keep) break;
      if (e.owned) this.cu.cuMemHostUnregister(e.bytes);
      this.pinnedBufs.delete(key);
    }
  }

  dispose(): void {
    this.evict(0);
  }
}
