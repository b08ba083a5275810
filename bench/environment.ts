/** What a benchmark ran on: machine, runtime, package versions, commit. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, totalmem, type } from 'node:os';
import type { BenchEnvironment } from './types.js';

const PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu', 'onnxruntime-node', 'webgpu', 'koffi', 'piscina', 'sharp'];

export function packageVersion(name: string): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    // Find the package root from its main entry, then read its package.json (exports maps may hide it).
    let dir = require.resolve(name).replace(/\\/g, '/');
    while (dir.includes('/node_modules/')) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      try {
        const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version;
      } catch {
        /* keep walking up */
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function gitCommit(): string | undefined {
  try {
    const here = new URL('.', import.meta.url).pathname;
    return execFileSync('git', ['describe', '--always', '--dirty', '--abbrev=7'], { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

export function benchEnvironment(model: string, gpu?: string): BenchEnvironment {
  const packages: Record<string, string> = {};
  for (const p of PACKAGES) {
    const v = packageVersion(p);
    if (v) packages[p] = v;
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    gpu,
    os: `${type()} ${release()}`,
    node: process.version,
    packages,
    commit: gitCommit(),
    date: new Date().toISOString(),
    model,
  };
}
