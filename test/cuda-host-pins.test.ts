import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { HostPins, type PinDriver } from '../engine/cuda/host-pins.js';

const koffi = (() => {
  try {
    return createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch {
    return undefined;
  }
})();

/** A driver stand-in that records page-locking calls (no GPU needed). */
function fakeDriver(registerResult = 0, syncResult = 0) {
  const calls: string[] = [];
  const registered = new Set<bigint>();
  const cu: PinDriver = {
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
      return syncResult;
    },
  };
  return { cu, calls, registered };
}

const MB = 1 << 20;
const shared = (bytes = 2 * MB) => new Float32Array(new SharedArrayBuffer(bytes));

describe.skipIf(!koffi)('cuda HostPins (koffi for buffer addresses)', () => {
  const pinsFor = (cu: PinDriver) => new HostPins(cu, (v) => koffi!.address(v));

  it('page-locks a shared buffer once, and knows it again through any view or structured clone of it', () => {
    const { cu, calls, registered } = fakeDriver();
    const pins = pinsFor(cu);
    const px = shared();
    expect(pins.pin(px)).toBe(true);
    expect(pins.pin(px.subarray(16))).toBe(true);
    expect(pins.pin(new Float32Array(structuredClone(px.buffer as SharedArrayBuffer)))).toBe(true);
    expect(calls).toEqual([`register ${2 * MB}`]);
    pins.dispose();
    expect(registered.size).toBe(0);
    expect(calls.slice(1)).toEqual(['sync', 'unregister']);
  });

  it('leaves ordinary and small buffers alone', () => {
    const { cu, calls } = fakeDriver();
    const pins = pinsFor(cu);
    expect(pins.pin(new Float32Array(MB))).toBe(false);
    expect(pins.pin(shared(4096))).toBe(false);
    expect(calls).toEqual([]);
  });

  it('keeps at most 8 registered, least recently used out first, after the device is idle', () => {
    const { cu, calls, registered } = fakeDriver();
    const pins = pinsFor(cu);
    const bufs = Array.from({ length: 9 }, () => shared());
    for (const b of bufs.slice(0, 8)) pins.pin(b);
    pins.pin(bufs[0]!); // most recent now: bufs[1] is the oldest
    pins.pin(bufs[8]!);
    expect(registered.size).toBe(8);
    expect(registered.has(koffi!.address(bufs[1]!))).toBe(false);
    expect(registered.has(koffi!.address(bufs[0]!))).toBe(true);
    expect(calls.slice(-3)).toEqual(['sync', 'unregister', `register ${2 * MB}`]);
  });

  it('never uploads straight from memory the driver already holds registered, and does not ask again', () => {
    const { cu, calls } = fakeDriver(712);
    const pins = pinsFor(cu);
    const px = shared();
    expect(pins.pin(px)).toBe(false);
    expect(pins.pin(px)).toBe(false);
    expect(pins.disabled).toBeUndefined();
    expect(calls).toEqual([`register ${2 * MB}`]);
  });

  it('turns itself off when the driver refuses otherwise, and stays off', () => {
    const { cu, calls } = fakeDriver(1);
    const pins = pinsFor(cu);
    const px = shared();
    expect(pins.pin(px)).toBe(false);
    expect(pins.disabled).toMatch(/cuMemHostRegister returned 1/);
    expect(pins.pin(px)).toBe(false);
    expect(calls).toEqual([`register ${2 * MB}`]);
  });

  it('keeps its registrations when the device cannot be synchronised (no DMA from memory given back)', () => {
    const { cu, calls, registered } = fakeDriver(0, 700);
    const pins = pinsFor(cu);
    pins.pin(shared());
    pins.dispose();
    expect(registered.size).toBe(1);
    expect(calls).toEqual([`register ${2 * MB}`, 'sync']);
    expect(pins.disabled).toMatch(/cuCtxSynchronize returned 700/);
  });
});
