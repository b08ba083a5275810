import { describe, expect, it } from 'vitest';
import { HostPins } from '../engine/cuda/host-pins.js';
import type { CudaApi } from '../engine/cuda/driver.js';

/** A driver stand-in that records page-locking calls (no GPU needed). */
function fakeApi(registerResult = 0) {
  const calls: string[] = [];
  const registered = new Set<ArrayBufferLike>();
  const cu = {
    cuMemHostRegister: (p: Uint8Array, bytes: number) => {
      calls.push(`register ${bytes}`);
      if (registerResult === 0) registered.add(p.buffer);
      return registerResult;
    },
    cuMemHostUnregister: (p: Uint8Array) => {
      calls.push('unregister');
      registered.delete(p.buffer);
      return 0;
    },
    cuCtxSynchronize: () => {
      calls.push('sync');
      return 0;
    },
  };
  return { api: { cu } as unknown as CudaApi, calls, registered };
}

const MB = 1 << 20;
const shared = (bytes = 2 * MB) => new Float32Array(new SharedArrayBuffer(bytes));

describe('cuda HostPins', () => {
  it('page-locks a shared buffer the second time it is seen, then reuses it', () => {
    const { api, calls, registered } = fakeApi();
    const pins = new HostPins(api);
    const px = shared();
    expect(pins.pinned(px)).toBe(false);
    expect(pins.pinned(px.subarray(16))).toBe(true);
    expect(pins.pinned(px)).toBe(true);
    expect(calls).toEqual([`register ${2 * MB}`]);
    pins.dispose();
    expect(registered.size).toBe(0);
  });

  it('leaves ordinary and small buffers alone', () => {
    const { api, calls } = fakeApi();
    const pins = new HostPins(api);
    const plain = new Float32Array(MB);
    const small = shared(4096);
    for (let i = 0; i < 3; i++) expect(pins.pinned(plain) || pins.pinned(small)).toBe(false);
    expect(calls).toEqual([]);
  });

  it('keeps at most 8 registered, least recently used out first, after the device is idle', () => {
    const { api, calls, registered } = fakeApi();
    const pins = new HostPins(api);
    const bufs = Array.from({ length: 9 }, () => shared());
    for (const b of bufs.slice(0, 8)) pins.pinned(b), pins.pinned(b);
    pins.pinned(bufs[0]!); // most recent now: bufs[1] is the oldest
    pins.pinned(bufs[8]!), pins.pinned(bufs[8]!);
    expect(registered.size).toBe(8);
    expect(registered.has(bufs[1]!.buffer)).toBe(false);
    expect(registered.has(bufs[0]!.buffer)).toBe(true);
    expect(calls.slice(-3)).toEqual(['sync', 'unregister', `register ${2 * MB}`]);
  });

  it('turns itself off when the driver refuses, and stays off', () => {
    const { api, calls } = fakeApi(1);
    const pins = new HostPins(api);
    const px = shared();
    pins.pinned(px);
    expect(pins.pinned(px)).toBe(false);
    expect(pins.disabled).toMatch(/cuMemHostRegister returned 1/);
    expect(pins.pinned(px)).toBe(false);
    expect(calls).toEqual([`register ${2 * MB}`]);
  });
});
