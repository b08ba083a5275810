/**
 * Memory given back: a pipeline created, used (classification and feature extraction in turn) and closed 20
 * times in one process ends within 50 MB of the RSS after the 5th close. Runs in a child process with
 * --expose-gc (test/helpers/pipeline-cycles.mjs), so vitest's own heap does not blur it. wasm and cpu here;
 * webgpu too on a hardware adapter (on lavapipe the 20 cycles take minutes: +24 MB measured by hand), else it
 * says it is skipped. Device memory on the GPU machine is not checked here.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeAdapter } from '../engine/webgpu/device.js';
import { PHOTOS, REPO } from './helpers/paths.js';

const MB = 2 ** 20;

/**
 * random:vit-tiny-patch16-224 (5.7M parameters, 23 MB of weights, made anew each cycle): a model copy kept per
 * cycle adds 15 x 23 MB between the 5th and the 20th close, far over the bound.
 */
const MODEL = 'random:vit-tiny-patch16-224';

function cycles(backend: string, perCall: number, size?: number): number[] {
  const out = execFileSync(process.execPath, ['--expose-gc', join(REPO, 'test/helpers/pipeline-cycles.mjs'), backend, MODEL, join(PHOTOS, 'chelsea.png'), '20', String(perCall), ...(size ? [String(size)] : [])], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as number[];
}

const adapter = await probeAdapter();
const noHardware = !adapter.ok ? adapter.reason : adapter.software ? `software adapter ${adapter.software} (minutes)` : undefined;
if (noHardware) console.log(`test/memory.test.ts: webgpu cycles skipped: ${noHardware}`);

describe('20 create / use / close cycles of a pipeline', () => {
  // The cpu backend is ~30x slower than wasm: at 64x64 (16 patches, the weights as large) it stays short.
  for (const [backend, size] of [['wasm', undefined], ['cpu', 64]] as const) {
    it(`${backend}: RSS after the last close within 50 MB of RSS after the 5th`, () => {
      const rss = cycles(backend, 3, size);
      expect(rss).toHaveLength(20);
      const grown = (rss[19]! - rss[4]!) / MB;
      console.log(`test/memory.test.ts: ${backend}: RSS after close 5 ${(rss[4]! / MB).toFixed(0)} MB, after close 20 ${(rss[19]! / MB).toFixed(0)} MB (${grown >= 0 ? '+' : ''}${grown.toFixed(1)} MB)`);
      expect(grown).toBeLessThan(50);
    }, 240_000);
  }

  it.skipIf(!!noHardware)('webgpu: RSS after the last close within 50 MB of RSS after the 5th', () => {
    const rss = cycles('webgpu', 3);
    const grown = (rss[19]! - rss[4]!) / MB;
    console.log(`test/memory.test.ts: webgpu (${adapter.description}): +${grown.toFixed(1)} MB from close 5 to close 20`);
    expect(grown).toBeLessThan(50);
  }, 240_000);
});
