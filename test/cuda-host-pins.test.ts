import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { HostPins, type PinDriver } from '../engine/cuda/host-pins.js';

const koffi = (() => {
  try {
    return createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch {
    return undefined;
  }
})();

/** A driver stand-in that records page-locking calls (no GPU needed). */
function fakeApi(registerResult = 0) {
  const calls: string[] = [];
  const registered = new Set<unknown>();
  const cu = {
    cuMemHostRegister: (p: Uint8Array, bytes: number) => {
      calls.push(`register ${bytes}`);
      if (registerResult === 0) registered.add(koffi!.address(p));
      return registerResult;
    },
    cuMemHostUnregister: (p: Uint8Array) => {
      calls.push('unregister');
      registered.delete(koffi!.address(p));
      return 0;
    },
    cuCtxSynchronize: () => {
      calls.push('sync');
      return 0;
    },
  };
  return { cu: cu as PinDriver, calls, registered };
}

const MB = 1 << 20;
const shared = (bytes = 2 * MB) => new Float32Array(new SharedArrayBuffer(bytes));

describe.skipIf(!koffi)('cuda HostPins (koffi for buffer addresses)', () => {
  const pinsFor = (cu: PinDriver) => new HostPins(cu, (v) => koffi!.address(v));
  it('page-locks a shared buffer the second time it is seen, then reuses it', () => {
    const { cu, calls, registered } = fakeApi();
    const pins = pinsFor(cu);
    const px = shared();
    expect(pins.pinned(px)).toBe(false);
    expect(pins.pinned(px.subarray(16))).toBe(true);
    expect(pins.pinned(px)).toBe(true);
    expect(calls).toEqual([`register ${2 * MB}`]);
    pins.dispose();
    expect(registered.size).toBe(0);
  });

  it('knows a buffer by its memory: a structured clone (what a worker receives) counts as the same buffer', () => {
    const { cu, calls } = fakeApi();
    const pins = pinsFor(cu);
    const px = shared();
    expect(pins.pinned(px)).toBe(false);
    expect(pins.pinned(new Float32Array(structuredClone(px.buffer as SharedArrayBuffer)))).toBe(true);
    expect(calls).toEqual([`register ${2 * MB}`]);
  });

  it('leaves ordinary and small buffers alone', () => {
    const { cu, calls } = fakeApi();
    const pins = pinsFor(cu);
    const plain = new Float32Array(MB);
    const small = shared(4096);
    for (let i = 0; i < 3; i++) expect(pins.pinned(plain) || pins.pinned(small)).toBe(false);
    expect(calls).toEqual([]);
  });

  it('keeps at most 8 registered, least recently used out first, after the device is idle', () => {
    const { cu, calls, registered } = fakeApi();
    const pins = pinsFor(cu);
    const bufs = Array.from({ length: 9 }, () => shared());
    for (const b of bufs.slice(0, 8)) pins.pinned(b), pins.pinned(b);
    pins.pinned(bufs[0]!); // most recent now: bufs[1] is the oldest
    pins.pinned(bufs[8]!), pins.pinned(bufs[8]!);
    expect(registered.size).toBe(8);
    expect(registered.has(koffi!.address(bufs[1]!))).toBe(false);
    expect(registered.has(koffi!.address(bufs[0]!))).toBe(true);
    expect(calls.slice(-3)).toEqual(['sync', 'unregister', `register ${2 * MB}`]);
  });

  it('uses memory another session registered first, and leaves its unregistering to that session', () => {
    const { cu, calls } = fakeApi(712);
    const pins = pinsFor(cu);
    const px = shared();
    pins.pinned(px);
    expect(pins.pinned(px)).toBe(true);
    expect(pins.disabled).toBeUndefined();
    pins.dispose();
    expect(calls).toEqual([`register ${2 * MB}`, 'sync']);
  });

  it('turns itself off when the driver refuses, and stays off', () => {
    const { cu, calls } = fakeApi(1);
    const pins = pinsFor(cu);
    const px = shared();
    pins.pinned(px);
    expect(pins.pinned(px)).toBe(false);
    expect(pins.disabled).toMatch(/cuMemHostRegister returned 1/);
    expect(pins.pinned(px)).toBe(false);
    expect(calls).toEqual([`register ${2 * MB}`]);
  });
});
