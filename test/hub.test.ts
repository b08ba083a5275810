import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runInspect } from '../cli/inspect.js';
import { inspectCheckpoint } from '../loaders/checkpoint.js';
import { hfCacheDir, isHubId, resolveModel } from '../loaders/hub.js';
import { commitFromDir, startFakeHub, startHangingServer, type FakeCommit, type FakeHub } from './helpers/fake-hub.js';

const MODELS = join(import.meta.dirname, 'fixtures', 'models');
const TOKEN = 'hf_fake_token_for_tests';
const single = commitFromDir(join(MODELS, 'hf-tiny'));
const sharded = commitFromDir(join(MODELS, 'hf-tiny-sharded'));

let hub: FakeHub;
let tmp: string;
let cache: string;

beforeAll(async () => {
  hub = await startFakeHub([
    { id: 'fake/vit-tiny', branches: { main: single.sha, sharded: sharded.sha } },
    { id: 'fake/private-vit', branches: { main: single.sha }, isPrivate: true },
  ], [single, sharded], TOKEN);
});
afterAll(() => hub.close());

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vit-hub-'));
  cache = join(tmp, 'hub');
  // Isolate from the user's environment: no real token, cache or endpoint can leak in.
  vi.stubEnv('HF_TOKEN', '');
  vi.stubEnv('HUGGING_FACE_HUB_TOKEN', '');
  vi.stubEnv('HF_TOKEN_PATH', join(tmp, 'no-token'));
  vi.stubEnv('HF_HOME', tmp);
  vi.stubEnv('HF_HUB_CACHE', cache);
  vi.stubEnv('HF_HUB_OFFLINE', '');
  vi.stubEnv('HF_ENDPOINT', hub.url);
  hub.requests.length = 0;
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(tmp, { recursive: true, force: true });
});

const repoDir = (repo = 'fake/vit-tiny') => join(cache, `models--${repo.replace('/', '--')}`);
/** What Python names a blob: the LFS sha256 for LFS files, else the git blob sha1. */
const etagOf = (f: { gitOid: string; lfsOid?: string }) => f.lfsOid ?? f.gitOid;

/** The snapshot holds every file of the commit as a relative symlink to its blob, with the served bytes. */
function expectSnapshot(dir: string, commit: FakeCommit) {
  expect(dir).toBe(join(repoDir(), 'snapshots', commit.sha));
  expect(readdirSync(dir).sort()).toEqual([...commit.files.keys()].sort());
  for (const f of commit.files.values()) {
    const link = join(dir, f.path);
    expect(lstatSync(link).isSymbolicLink(), f.path).toBe(true);
    expect(readlinkSync(link)).toBe(`../../blobs/${etagOf(f)}`);
    expect(readFileSync(link).equals(f.data), f.path).toBe(true);
  }
}

describe('resolveModel from the hub (fake server, real @huggingface/hub client)', () => {
  it('a hub that accepts and never answers fails in seconds, after retries, naming the endpoint and the offline way out', async () => {
    const hang = await startHangingServer();
    vi.stubEnv('VIT_HUB_TIMEOUT_MS', '300');
    vi.stubEnv('VIT_HUB_RETRIES', '2');
    try {
      const t0 = performance.now();
      const err = await resolveModel('fake/vit-tiny', { hubUrl: hang.url }).then(() => undefined, (e: Error) => e);
      const seconds = (performance.now() - t0) / 1000;
      expect(err?.message).toMatch(new RegExp(`Could not reach the Hugging Face Hub at ${hang.url.replaceAll('.', '\\.')} .*no response within 300 ms \\(3 attempts.*HF_HUB_OFFLINE=1.*local model directory`));
      expect(hang.connections()).toBe(3); // one per attempt
      expect(seconds).toBeLessThan(10); // 3 x 0.3 s + backoff 0.5 s + 1 s, against 5 minutes before
      expect(existsSync(repoDir())).toBe(false);
    } finally {
      await hang.close();
    }
  });

  it('downloads @main into the Python cache layout: blobs by etag, relative symlinks, refs/main = commit', async () => {
    const dir = await resolveModel('fake/vit-tiny');
    expectSnapshot(dir, single);
    expect(readFileSync(join(repoDir(), 'refs', 'main'), 'utf8')).toBe(single.sha); // bare sha, no newline
    expect(readdirSync(join(repoDir(), 'blobs')).sort()).toEqual([...single.files.values()].map(etagOf).sort());
    expect(readdirSync(repoDir()).sort()).toEqual(['blobs', 'refs', 'snapshots']);
    expect(hub.requests.every((r) => r.authorization === undefined)).toBe(true);

    hub.requests.length = 0;
    expect(await resolveModel('fake/vit-tiny@main')).toBe(dir);
    expect(hub.requests).toEqual([]); // a complete cached snapshot costs no request
  });

  it('downloads a branch with a sharded checkpoint: the index and every shard', async () => {
    const dir = await resolveModel('fake/vit-tiny@sharded');
    expectSnapshot(dir, sharded);
    expect(readFileSync(join(repoDir(), 'refs', 'sharded'), 'utf8')).toBe(sharded.sha);
    expect(existsSync(join(repoDir(), 'refs', 'main'))).toBe(false);
  });

  it('downloads a commit sha (as spec suffix or option) without writing a ref, then reuses it offline-free', async () => {
    const dir = await resolveModel(`fake/vit-tiny@${sharded.sha}`);
    expectSnapshot(dir, sharded);
    expect(existsSync(join(repoDir(), 'refs'))).toBe(false); // Python writes no ref for a sha revision
    hub.requests.length = 0;
    expect(await resolveModel('fake/vit-tiny', { revision: sharded.sha })).toBe(dir);
    expect(hub.requests).toEqual([]);
  });

  it('re-downloads only the missing blob of a partial snapshot', async () => {
    await resolveModel('fake/vit-tiny@sharded');
    const shard = 'model-00003-of-00007.safetensors';
    unlinkSync(join(repoDir(), 'blobs', etagOf(sharded.files.get(shard)!)));
    hub.requests.length = 0;
    expectSnapshot(await resolveModel('fake/vit-tiny@sharded'), sharded);
    const bodyGets = hub.requests.filter((r) => r.method === 'GET' && r.url.includes('/resolve/') && !r.range);
    expect(bodyGets.map((r) => r.url)).toEqual([`/fake/vit-tiny/resolve/${sharded.sha}/${shard}`]);
  });

  it('reports per-file progress ending at the file size', async () => {
    const events: { file: string; loaded: number; total?: number }[] = [];
    await resolveModel('fake/vit-tiny@sharded', { onProgress: (p) => events.push({ ...p }) });
    const files = [...new Set(events.map((e) => e.file))].sort();
    expect(files).toEqual([...sharded.files.keys()].sort());
    for (const file of files) {
      const mine = events.filter((e) => e.file === file);
      const size = sharded.files.get(file)!.data.length;
      expect(mine[0].loaded).toBe(0);
      expect(mine.at(-1)).toEqual({ file, loaded: size, total: size });
      mine.slice(1).forEach((e, i) => expect(e.loaded).toBeGreaterThanOrEqual(mine[i].loaded));
    }
  });

  it('offline (HF_HUB_OFFLINE=1 or true) resolves a cached model with zero requests', async () => {
    const dir = await resolveModel('fake/vit-tiny');
    for (const value of ['1', 'true']) {
      vi.stubEnv('HF_HUB_OFFLINE', value);
      hub.requests.length = 0;
      expect(await resolveModel('fake/vit-tiny')).toBe(dir);
      expect(hub.requests).toEqual([]);
    }
  });

  it('offline without a cached copy fails naming the model, revision and cache dir', async () => {
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    await expect(resolveModel('fake/vit-tiny@sharded')).rejects.toThrow(
      `Model fake/vit-tiny (revision 'sharded') is not in the cache at ${cache} and HF_HUB_OFFLINE=1`);
    expect(hub.requests).toEqual([]);
    // offline option without the env var behaves the same
    vi.stubEnv('HF_HUB_OFFLINE', '');
    await expect(resolveModel('fake/vit-tiny', { offline: true })).rejects.toThrow(/is not in the cache/);
    expect(hub.requests).toEqual([]);
  });

  it('sends HF_TOKEN as a Bearer token, and a private repo without it gives an error that says so', async () => {
    await expect(resolveModel('fake/private-vit')).rejects.toThrow(
      /fake\/private-vit \(revision 'main'\) was not found .* or is private\/gated \(HTTP 401.*set HF_TOKEN/);
    vi.stubEnv('HF_TOKEN', TOKEN);
    hub.requests.length = 0;
    const dir = await resolveModel('fake/private-vit');
    expect(readFileSync(join(dir, 'config.json')).equals(single.files.get('config.json')!.data)).toBe(true);
    expect(hub.requests.length).toBeGreaterThan(0);
    expect(hub.requests.filter((r) => r.authorization !== `Bearer ${TOKEN}`)).toEqual([]);
  });

  it('reads the token from the login token file, and an explicit token option wins', async () => {
    writeFileSync(join(tmp, 'token-file'), `${TOKEN}\n`);
    vi.stubEnv('HF_TOKEN_PATH', join(tmp, 'token-file'));
    await resolveModel('fake/private-vit');
    expect(hub.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    rmSync(cache, { recursive: true });
    await expect(resolveModel('fake/private-vit', { token: 'hf_wrong' })).rejects.toThrow(/HTTP 404: Repository not found\); if it is private or gated, check that your token/);
  });

  it('reuses a cache laid out by Python huggingface_hub with zero requests', async () => {
    // Built by hand as huggingface_hub writes it: blobs/<etag>, snapshots/<sha>/<file> -> ../../blobs/<etag>, refs/main.
    const root = repoDir();
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'refs'));
    mkdirSync(join(root, 'snapshots', single.sha), { recursive: true });
    writeFileSync(join(root, 'refs', 'main'), single.sha);
    for (const f of single.files.values()) {
      writeFileSync(join(root, 'blobs', etagOf(f)), f.data);
      symlinkSync(`../../blobs/${etagOf(f)}`, join(root, 'snapshots', single.sha, f.path));
    }
    const dir = await resolveModel('fake/vit-tiny');
    expect(hub.requests).toEqual([]);
    expectSnapshot(dir, single);
  });

  it('gives clear errors for an unknown repo, an unknown revision and an unreachable hub', async () => {
    await expect(resolveModel('fake/nope')).rejects.toThrow(/Model fake\/nope \(revision 'main'\) was not found on http:\/\/127\.0\.0\.1:\d+/);
    vi.stubEnv('HF_TOKEN', TOKEN); // authenticated, the hub answers 404 for a missing repo
    await expect(resolveModel('fake/nope')).rejects.toThrow(/fake\/nope .* not found .*HTTP 404: Repository not found/);
    await expect(resolveModel('fake/vit-tiny@v9')).rejects.toThrow(/revision 'v9'\) was not found .*Invalid rev id: v9/);

    const port = await new Promise<number>((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    await expect(resolveModel('fake/vit-tiny', { hubUrl: `http://127.0.0.1:${port}` })).rejects.toThrow(
      /Could not reach the Hugging Face Hub at http:\/\/127\.0\.0\.1:\d+ to download fake\/vit-tiny .*ECONNREFUSED.*HF_HUB_OFFLINE=1.*local model directory/);
    expect(existsSync(join(repoDir('fake/nope')))).toBe(false);
  });
});

// Cross-check with the real Python client (not installed in CI): point VIT_HF_PYTHON at a python with huggingface_hub.
const PYTHON = process.env.VIT_HF_PYTHON ?? 'python3';
const hasPythonHub = spawnSync(PYTHON, ['-c', 'import huggingface_hub']).status === 0;
const PY_DOWNLOAD = 'import json,sys\nfrom huggingface_hub import hf_hub_download\n' +
  'print(json.dumps([hf_hub_download(sys.argv[1], f, revision=sys.argv[2]) for f in sys.argv[3:]]))';

/** Every entry under a repo folder: symlinks by target, files by content, so two caches compare entry for entry. */
function tree(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).sort().flatMap((name) => {
    const path = join(rel, name);
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) return [`${path}/`, ...tree(dir, path)];
    if (st.isSymbolicLink()) return [`${path} -> ${readlinkSync(join(dir, path))}`];
    return [`${path} = ${readFileSync(join(dir, path)).toString('base64').slice(0, 64)}:${st.size}`];
  });
}

describe.skipIf(!hasPythonHub)(`interop with Python huggingface_hub (skipped unless ${PYTHON} imports huggingface_hub; set VIT_HF_PYTHON)`, () => {
  const python = async (cacheDir: string, offline: boolean, revision: string, files: string[]) => {
    const env = { ...process.env, HF_HUB_CACHE: cacheDir, HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: offline ? '1' : '0',
      HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1' };
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', PY_DOWNLOAD, 'fake/vit-tiny', revision, ...files], { env, timeout: 60_000 });
    return JSON.parse(stdout) as string[];
  };

  it('Python and this loader write identical caches and each reads the other\'s offline', async () => {
    const pyCache = join(tmp, 'py-hub');
    for (const [revision, commit] of [['main', single], ['sharded', sharded]] as const) {
      await python(pyCache, false, revision, [...commit.files.keys()]);
      await resolveModel(`fake/vit-tiny@${revision}`);
    }
    const pyRepo = join(pyCache, 'models--fake--vit-tiny');
    expect(tree(repoDir())).toEqual(tree(pyRepo));

    hub.requests.length = 0;
    expect(await resolveModel('fake/vit-tiny@sharded', { cacheDir: pyCache, offline: true })).toBe(join(pyRepo, 'snapshots', sharded.sha));
    const fromJsCache = await python(cache, true, 'main', [...single.files.keys()]);
    expect(fromJsCache).toEqual([...single.files.keys()].map((f) => join(repoDir(), 'snapshots', single.sha, f)));
    expect(hub.requests).toEqual([]);
  });
});

describe('resolveModel with local directories', () => {
  it('returns a model directory as is', async () => {
    const dir = join(MODELS, 'hf-tiny');
    expect(await resolveModel(dir)).toBe(dir);
    expect(hub.requests).toEqual([]);
  });

  it('rejects a directory without config.json or safetensors, a file, and a spec that is neither', async () => {
    await expect(resolveModel(tmp)).rejects.toThrow(`Model directory ${tmp} holds neither config.json nor any .safetensors file`);
    await expect(resolveModel(join(MODELS, 'hf-tiny', 'config.json'))).rejects.toThrow(/is neither a directory nor a \.safetensors/);
    await expect(resolveModel('./no/such/dir')).rejects.toThrow('no such directory or file: ./no/such/dir');
  });
});

describe('isHubId / hfCacheDir', () => {
  it('recognises org/name[@revision]', () => {
    for (const id of ['google/vit-base-patch16-224', 'facebook/deit-tiny-patch16-224@main', 'a/b@refs/pr/1', `x/y@${'a'.repeat(40)}`]) {
      expect(isHubId(id), id).toBe(true);
    }
    for (const s of ['vit', './org/name', '/abs/path', 'a/b/c', '../x', 'a/..', 'org/name@', '~/models/x']) {
      expect(isHubId(s), s).toBe(false);
    }
  });

  it('follows HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub', () => {
    expect(hfCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' })).toBe('/c');
    expect(hfCacheDir({ HF_HOME: '/h' })).toBe('/h/hub');
    expect(hfCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
    expect(hfCacheDir({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });
});

describe('vit inspect on a hub model that is not cached: remote safetensors headers only', () => {
  const bf16 = commitFromDir(join(MODELS, 'hf-tiny-bf16'));
  const lies = mkdtempSync(join(tmpdir(), 'vit-lying-'));
  let lyingShape: FakeCommit;
  let lyingSpan: FakeCommit;
  let remoteHub: FakeHub;

  /** A copy of hf-tiny whose header is rewritten by `edit` (data section unchanged). */
  function lyingCopy(name: string, edit: (h: Record<string, { shape: number[] }>) => void): string {
    const dir = join(lies, name);
    mkdirSync(dir);
    for (const f of ['config.json', 'preprocessor_config.json']) writeFileSync(join(dir, f), readFileSync(join(MODELS, 'hf-tiny', f)));
    const data = readFileSync(join(MODELS, 'hf-tiny', 'model.safetensors'));
    const { n, entries } = rawHeader(data);
    edit(entries);
    const json = Buffer.from(JSON.stringify(entries));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, json, data.subarray(8 + n)]));
    return dir;
  }

  beforeAll(async () => {
    // Same byte count, transposed: the header is self-consistent but does not fit the config.
    lyingShape = commitFromDir(lyingCopy('shape', (h) => (h['classifier.weight']!.shape = [96, 10])));
    // A shape whose size disagrees with its data_offsets.
    lyingSpan = commitFromDir(lyingCopy('span', (h) => (h['classifier.bias']!.shape = [11])));
    remoteHub = await startFakeHub([
      { id: 'fake/vit-tiny', branches: { main: single.sha, sharded: sharded.sha, bf16: bf16.sha } },
      { id: 'fake/private-vit', branches: { main: single.sha }, isPrivate: true },
      { id: 'fake/lying', branches: { shape: lyingShape.sha, span: lyingSpan.sha } },
    ], [single, sharded, bf16, lyingShape, lyingSpan], TOKEN);
  });
  afterAll(async () => {
    await remoteHub.close();
    rmSync(lies, { recursive: true, force: true });
  });
  beforeEach(() => {
    vi.stubEnv('HF_ENDPOINT', remoteHub.url);
    remoteHub.requests.length = 0;
  });

  /** Header length and entries, parsed here independently of both safetensors readers. */
  function rawHeader(data: Buffer): { n: number; entries: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> } {
    const n = Number(data.readBigUInt64LE(0));
    const entries = JSON.parse(data.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    delete entries.__metadata__;
    return { n, entries };
  }

  async function inspectJson(spec: string): Promise<Record<string, unknown>> {
    const out: string[] = [];
    await runInspect(spec, true, (s) => out.push(s));
    return JSON.parse(out.join('\n')) as Record<string, unknown>;
  }

  /** Every file under a folder, symlinks followed (contents), as relative paths. */
  const files = (dir: string, rel = ''): string[] => readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(dir, join(rel, e.name)) : [join(rel, e.name)]).sort();

  it.each([
    ['main', 'hf-tiny', single],
    ['sharded', 'hf-tiny-sharded', sharded],
    ['bf16', 'hf-tiny-bf16', bf16],
  ] as const)('@%s (%s): counts from the headers, only header ranges requested, only config files cached', async (rev, fixture, commit) => {
    const info = await inspectJson(`fake/vit-tiny@${rev}`);

    // Parameter count, dtypes and bytes from the served files' headers, parsed independently.
    const weights = [...commit.files.values()].filter((f) => f.path.endsWith('.safetensors'));
    const dtypes: Record<string, number> = {};
    let parameters = 0;
    let bytes = 0;
    for (const f of weights) {
      for (const t of Object.values(rawHeader(f.data).entries)) {
        dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
        parameters += t.shape.reduce((a, b) => a * b, 1);
        bytes += t.data_offsets[1]! - t.data_offsets[0]!;
      }
    }
    expect(info).toMatchObject({ parameters, dtypes, bytes, remote: 'remote: headers only, no weights downloaded' });
    expect(parameters).toBeGreaterThan(100_000);
    // Everything else is what inspecting the local copy says.
    const { path, remote: _remote, ...rest } = info;
    const { path: _localPath, ...local } = await inspectCheckpoint(join(MODELS, fixture));
    expect(rest).toEqual(JSON.parse(JSON.stringify(local)));
    expect(path).toBe(join(repoDir(), 'snapshots', commit.sha));

    // Safetensors files: only ranged requests, none past the header, and each header was read.
    for (const f of weights) {
      const mine = remoteHub.requests.filter((r) => r.url === `/fake/vit-tiny/resolve/${commit.sha}/${f.path}`);
      const headerEnd = 8 + rawHeader(f.data).n - 1;
      expect(mine.map((r) => r.range).filter((r) => !r || Number(/-(\d+)$/.exec(r)?.[1] ?? Infinity) > headerEnd), f.path).toEqual([]);
      expect(mine.map((r) => r.range), f.path).toContain(`bytes=8-${headerEnd}`);
    }
    // The cache holds config.json, preprocessor_config.json and the ref: no weights, no index.
    const configs = ['config.json', 'preprocessor_config.json'];
    expect(files(repoDir())).toEqual([
      ...configs.map((c) => commit.files.get(c)!.gitOid).map((o) => join('blobs', o)).sort(),
      join('refs', rev),
      ...configs.map((c) => join('snapshots', commit.sha, c)),
    ]);
    for (const c of configs) expect(readFileSync(join(path as string, c)).equals(commit.files.get(c)!.data)).toBe(true);
  });

  it('says so in the text output; once the model is cached, inspect is local again with zero requests', async () => {
    const out: string[] = [];
    await runInspect('fake/vit-tiny@sharded', false, (s) => out.push(s));
    expect(out[0]).toBe(`path        ${join(repoDir(), 'snapshots', sharded.sha)} (remote: headers only, no weights downloaded)`);
    const index = JSON.parse(sharded.files.get('model.safetensors.index.json')!.data.toString()) as { weight_map: Record<string, string> };
    expect(out[1]).toBe(`files       ${[...new Set(Object.values(index.weight_map))].join(', ')}`); // index order, as for a local checkpoint

    await resolveModel('fake/vit-tiny@sharded'); // completes the snapshot the remote inspect started
    remoteHub.requests.length = 0;
    const cached: string[] = [];
    await runInspect('fake/vit-tiny@sharded', false, (s) => cached.push(s));
    expect(remoteHub.requests).toEqual([]);
    expect(cached).toEqual([out[0]!.replace(' (remote: headers only, no weights downloaded)', ''), ...out.slice(1)]);
    expect(await inspectJson('fake/vit-tiny@sharded')).not.toHaveProperty('remote');
  });

  it('offline and not cached: the resolveModel error, no request', async () => {
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    await expect(runInspect('fake/vit-tiny', true, () => {})).rejects.toThrow(/is not in the cache at .* and HF_HUB_OFFLINE=1/);
    expect(remoteHub.requests).toEqual([]);
  });

  it('a private repo: every request carries the token; without it the error says to set HF_TOKEN', async () => {
    await expect(runInspect('fake/private-vit', true, () => {})).rejects.toThrow(/HTTP 401.*set HF_TOKEN/);
    vi.stubEnv('HF_TOKEN', TOKEN);
    remoteHub.requests.length = 0;
    expect((await inspectJson('fake/private-vit')).remote).toBeDefined();
    expect(remoteHub.requests.filter((r) => r.authorization !== `Bearer ${TOKEN}`)).toEqual([]);
  });

  it.each([
    ['shape', /tensor classifier\.weight has shape \[96, 10\], expected \[10, 96\]/],
    ['span', /tensor "classifier\.bias": shape \[11\] x F32 is 44 bytes but data_offsets \[0, 40\] span 40/],
  ] as const)('a header that lies (%s) fails as the local file does, naming the remote file', async (rev, re) => {
    const commit = rev === 'shape' ? lyingShape : lyingSpan;
    const localFile = join(lies, rev, 'model.safetensors');
    const local = await inspectCheckpoint(join(lies, rev)).then(() => undefined, (e: Error) => e);
    const remote = await runInspect(`fake/lying@${rev}`, true, () => {}).then(() => undefined, (e: Error) => e);
    expect(local?.message).toMatch(re);
    expect(remote?.constructor).toBe(local?.constructor);
    expect(remote?.message).toBe(local?.message.replaceAll(localFile, `${remoteHub.url}/fake/lying/resolve/${commit.sha}/model.safetensors`));
  });
});
