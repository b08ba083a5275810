/**
 * The import graph of the source tree: one direction of layers, no circles, no checkpoint keys in backends.
 *
 *   entry (index.ts, dev/) -> cli -> bench -> pipeline -> workers -> engine | loaders -> model -> util
 *
 * A file may import its own folder or any layer below it; engine and loaders are peers that do not import
 * each other.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/paths.js';

const RANK: Record<string, number> = { util: 0, model: 1, engine: 2, loaders: 2, workers: 3, pipeline: 4, bench: 5, cli: 6, dev: 7, 'index.ts': 7 };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return n.endsWith('.ts') && !n.endsWith('.d.ts') ? [p] : [];
  });
}

const files = Object.keys(RANK).flatMap((top) => (top.endsWith('.ts') ? [join(REPO, top)] : sources(join(REPO, top))));
const layer = (file: string) => relative(REPO, file).split('/')[0]!;

/** Relative imports (static, `export ... from`, dynamic) of a file, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('import graph', () => {
  it('covers the tree', () => {
    expect(files.length).toBeGreaterThan(40);
    for (const [f, deps] of graph) for (const d of deps) expect(graph.has(d), `${relative(REPO, f)} imports ${relative(REPO, d)}, outside the layers`).toBe(true);
  });

  it('no import runs up a layer or across between engine and loaders', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      for (const d of deps) {
        const [from, to] = [layer(f), layer(d)];
        if (from === to) continue;
        if (RANK[to]! >= RANK[from]!) bad.push(`${relative(REPO, f)} -> ${relative(REPO, d)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no circle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(REPO, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(circles).toEqual([]);
  });

  it('only the format loaders spell checkpoint keys', () => {
    const keys = /\.mlp\.fc[12]|attn\.(qkv|proj)|patch_embed\.|pos_embed|cls_token|encoder\.layer|layernorm_/;
    const allowed = new Set(['loaders/formats/hf.ts', 'loaders/formats/timm.ts']);
    const spelled = files
      .filter((f) => /^(engine|model|workers|pipeline|bench|cli)\//.test(relative(REPO, f)) || relative(REPO, f) === 'loaders/checkpoint.ts')
      .filter((f) => !allowed.has(relative(REPO, f)) && keys.test(readFileSync(f, 'utf8')))
      .map((f) => relative(REPO, f));
    expect(spelled).toEqual([]);
  });
});
