/**
 * Page-locking of callers' pixel buffers, so a batch uploads by DMA straight from them (no copy through the
 * plan's pinned staging buffer: at batch 256 that copy is 154 MB of host memcpy per batch, the wall-time limit
 * of the 16-bit paths on a slow host). Only for buffers the caller says come back (RunHints.reusedInput: a
 * benchmark's batch), only SharedArrayBuffers (they cannot be detached or moved) of at least MIN_BYTES.
 *
 * Buffers are known by the address of their memory: a worker gets a new SharedArrayBuffer object for the same
 * memory with every message. At most MAX_PINNED at once, least recently used first out; a pinned buffer is held,
 * so its memory outlives its registration, and every registration ends at dispose() (pool workers dispose their
 * sessions before they end). Memory the driver already holds registered (CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED:
 * another GPU worker's, or a registration that outlived its buffer) is never used directly: its pages may not be
 * this buffer's. The first DMA from a registered buffer is read back and compared before it is trusted; any failure
 * turns pinning off for the session.
 */

const MIN_BYTES = 1 << 20;
const MAX_PINNED = 8;
const MAX_REFUSED = 64;
const CU_MEMHOSTREGISTER_PORTABLE = 1;
const CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;

/** The driver calls this needs (a CudaApi's `cu`). */
export interface PinDriver {
  cuMemHostRegister(p: Uint8Array, bytes: number, flags: number): unknown;
  cuMemHostUnregister(p: Uint8Array): unknown;
  cuCtxSynchronize(): unknown;
}

export class HostPins {
  /** Registered buffers by key (address:bytes), least recently used first; the view keeps the memory alive. */
  private readonly pinnedBufs = new Map<string, Uint8Array>();
  /** Keys the driver refused as already registered (not retried), oldest first. */
  private readonly refused = new Set<string>();
  /** Why pinning is off, once it is. */
  disabled: string | undefined;
  /** Whether a DMA from a registered buffer has been checked. */
  verified = false;

  constructor(
    private readonly cu: PinDriver,
    /** The address of a view's memory (koffi.address). */
    private readonly address: (view: ArrayBufferView) => bigint,
  ) {}

  /** Page-locks `view`'s buffer (once); whether uploads may go straight from it. */
  pin(view: ArrayBufferView): boolean {
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
    if (this.refused.has(key)) return false;
    this.evict(MAX_PINNED - 1);
    let r: unknown;
    try {
      r = this.cu.cuMemHostRegister(bytes, buf.byteLength, CU_MEMHOSTREGISTER_PORTABLE);
    } catch (err) {
      this.disabled = `cuMemHostRegister: ${(err as Error).message}`;
      return false;
    }
    if (r === CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
      this.refused.add(key);
      if (this.refused.size > MAX_REFUSED) this.refused.delete(this.refused.values().next().value!);
      return false;
    }
    if (r !== 0) {
      this.disabled = `cuMemHostRegister returned ${String(r)}`;
      return false;
    }
    this.pinnedBufs.set(key, bytes);
    return true;
  }

  /** Pinning off for good (a failed check): everything unregistered. */
  disable(why: string): void {
    this.disabled = why;
    this.evict(0);
  }

  /** Unregisters the least recently used buffers until at most `keep` stay, once the device is idle. */
  private evict(keep: number): void {
    if (this.pinnedBufs.size <= keep) return;
    const r = this.cu.cuCtxSynchronize(); // no DMA may still read what is unregistered
    if (r !== 0) {
      // A faulted context: keep the registrations (and their buffers) rather than risk a DMA from freed memory.
      this.disabled ??= `cuCtxSynchronize returned ${String(r)}`;
      return;
    }
    for (const [key, bytes] of this.pinnedBufs) {
      if (this.pinnedBufs.size <= keep) break;
      this.cu.cuMemHostUnregister(bytes);
      this.pinnedBufs.delete(key);
    }
  }

  dispose(): void {
    this.evict(0);
  }
}
