/**
 * The package as a user gets it: a fresh clone builds on prepare, its bin is executable, the tarball holds the
 * build and the data but not benchmark results; GPU packages are optional, with a one-line hint when absent.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingPackage } from '../engine/session.js';
import { REPO } from './helpers/paths.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
const clone = mkdtempSync(join(tmpdir(), 'vit-clone-'));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

describe('package', () => {
  it('GPU packages are optional dependencies; a missing one gives a one-line install hint', () => {
    expect(pkg.dependencies!.webgpu).toBeUndefined();
    expect(pkg.optionalDependencies!.webgpu).toBeDefined();
    expect(pkg.optionalDependencies!.koffi).toBeDefined();
    const notFound = Object.assign(new Error("Cannot find package 'webgpu' imported from /x/device.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(missingPackage(notFound, 'webgpu', 'npm install webgpu').message).toBe('npm install webgpu');
    const other = new Error('boom');
    expect(missingPackage(other, 'webgpu', 'npm install webgpu')).toBe(other);
  });

  it('a clean clone (committed files only) packs: prepare builds, the bin is executable, no bench results', () => {
    execFileSync('git', ['clone', '-q', '--no-hardlinks', REPO, clone]);
    execFileSync('git', ['checkout', '-q', execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim()], { cwd: clone });
    symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'));
    const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', clone], { cwd: clone, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { files: { path: string; mode: number }[] }[];
    const files = new Map(info!.files.map((f) => [f.path, f.mode]));
    expect(files.get('dist/cli/vit.js')! & 0o111).not.toBe(0);
    expect(files.has('dist/workers/worker.js')).toBe(true);
    expect(files.has('dist/index.d.ts')).toBe(true);
    expect([...files.keys()].some((f) => f.startsWith('data/'))).toBe(true);
    expect([...files.keys()].filter((f) => f.startsWith('bench/'))).toEqual([]);
    expect(statSync(join(clone, 'dist/cli/vit.js')).mode & 0o111).not.toBe(0);
    // npx in the clone runs the built bin (it said "Permission denied" without the exec bit).
    expect(execFileSync('npx', ['--no-install', 'vit', '--version'], { cwd: clone, encoding: 'utf8' }).trim()).toBe(pkg.version as unknown as string);
  }, 240_000);
});
