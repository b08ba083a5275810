/**
 * Resolve a model spec (a local directory, or a Hugging Face Hub id `org/name[@revision]`) to a directory holding
 * config.json and safetensors weights. Downloads go through `@huggingface/hub` into the standard HF cache, whose layout
 * is the one Python's `huggingface_hub` reads and writes, so either side reuses the other's downloads:
 *   <cache>/models--org--name/blobs/<etag>                  file contents; etag = sha256 (LFS files) or git blob sha1
 *   <cache>/models--org--name/snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
 *   <cache>/models--org--name/refs/<revision>               the commit sha the revision pointed to (no newline)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HubTimeoutError, timedFetch } from './hub-fetch.js';
import { convertHint } from './safetensors/shards.js';
import { downloadFileToCacheDir, HUB_URL, HubApiError, modelInfo, parseSafetensorsMetadata, type SafetensorsParseFromRepo } from '@huggingface/hub';

export interface ResolveOptions {
  revision?: string;
  token?: string;
  offline?: boolean;
  cacheDir?: string;
  hubUrl?: string;
  onProgress?: (p: { file: string; loaded: number; total?: number }) => void;
  /** Called before the hub is asked about a model that is not in the cache. */
  onResolve?: (id: string, endpoint: string) => void;
}

const CONFIG = 'config.json';
const PREPROCESSOR = 'preprocessor_config.json';
const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const COMMIT_SHA = /^[0-9a-f]{40}$/;
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w.\/-]+)?$/;

/** `org/name` or `org/name@revision` (syntax only; resolveModel also requires that no local path says otherwise). */
export function isHubId(spec: string): boolean {
  return HUB_ID.test(spec) && !spec.split(/[/@]/).includes('..');
}

/** The hub cache directory, resolved like Python's huggingface_hub.constants.HF_HUB_CACHE. */
export function hfCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const expand = (p: string) => (p.startsWith('~') ? join(homedir(), p.slice(1)) : p);
  if (env.HF_HUB_CACHE) return expand(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return expand(env.HUGGINGFACE_HUB_CACHE); // legacy name, still read by Python
  if (env.HF_HOME) return join(expand(env.HF_HOME), 'hub');
  return join(env.XDG_CACHE_HOME ? expand(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** Python's token lookup: HF_TOKEN, the legacy HUGGING_FACE_HUB_TOKEN, then the file `huggingface-cli login` writes. */
export function hfToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  try {
    return readFileSync(env.HF_TOKEN_PATH ?? join(home, 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** HF_HUB_OFFLINE, true for 1/ON/YES/TRUE in any case (as Python's `_is_true`). */
export function hfOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((env.HF_HUB_OFFLINE ?? '').toUpperCase());
}

export async function resolveModel(spec: string, opts: ResolveOptions = {}): Promise<string> {
  const plan = planResolve(spec, opts);
  if ('path' in plan) return plan.path;
  return online(plan.job, download);
}

/** What `fetchRemoteHeaders` gives: the snapshot dir with the config files, and the weights' parsed headers. */
export interface RemoteHeaders {
  dir: string;
  /** model.safetensors or model.safetensors.index.json */
  weightsFile: string;
  /** The resolve URL of a repo file at the snapshot's commit. */
  url(file: string): string;
  parsed: SafetensorsParseFromRepo;
}

/**
 * For `vit inspect` on a hub model that is not complete in the cache, when online: config.json (and
 * preprocessor_config.json) cached exactly as resolveModel caches them, and the safetensors headers read with HTTP
 * Range requests by @huggingface/hub's parseSafetensorsMetadata: no tensor data is downloaded. Undefined for a local
 * path, a complete cached snapshot, or offline mode: use resolveModel then.
 */
export async function fetchRemoteHeaders(spec: string, opts: ResolveOptions = {}): Promise<RemoteHeaders | undefined> {
  if (existsSync(spec) || opts.offline || (opts.offline === undefined && hfOffline())) return undefined;
  const plan = planResolve(spec, opts);
  if ('path' in plan) return undefined;
  return online(plan.job, async (job) => {
    const snap = await prepareSnapshot(job);
    const weightsFile = weightsOf(job, snap.files);
    // The path is passed, so the library probes nothing else; the commit pins the headers to the cached config.
    const parsed = await parseSafetensorsMetadata({ repo: job.repo, path: weightsFile, revision: snap.commit, hubUrl: job.hubUrl, accessToken: job.accessToken, fetch: timedFetch() });
    return { dir: snap.snapshot, weightsFile, url: (file: string) => `${job.hubUrl}/${job.repo}/resolve/${snap.commit}/${file}`, parsed };
  });
}

/**
 * Whether a spec that names no existing path is a hub id: it must have the hub-id shape (`org/name[@revision]`:
 * no leading ./, ../, / or ~, exactly one slash before any @) and its `org` must not be an existing local path
 * (`models/nope` beside a `models/` folder is a missing path, not a hub id).
 */
export function meansHub(spec: string): boolean {
  return isHubId(spec) && !existsSync(spec.split('/')[0]!);
}

/** A spec served locally or from the cache (`path`), or the hub job to run online; offline and uncached throws. */
function planResolve(spec: string, opts: ResolveOptions): { path: string } | { job: DownloadJob } {
  if (existsSync(spec)) return { path: checkLocalDir(spec) };
  if (!meansHub(spec)) throw new Error(`no such directory or file: ${spec} (a model is a local path, a hub id org/name[@revision], or random:<arch>)`);
  const [repo, specRevision] = spec.split('@') as [string, string | undefined];
  if (specRevision && opts.revision && specRevision !== opts.revision) {
    throw new Error(`Model '${spec}': revision '${specRevision}' conflicts with the revision option '${opts.revision}'`);
  }
  const revision = specRevision ?? opts.revision ?? 'main';
  const cacheDir = opts.cacheDir ?? hfCacheDir();
  const storage = join(cacheDir, `models--${repo.replaceAll('/', '--')}`);

  const cached = cachedSnapshot(storage, revision);
  if (cached) return { path: cached };
  if (opts.offline ?? hfOffline()) {
    throw new Error(`Model ${repo} (revision '${revision}') is not in the cache at ${cacheDir} and HF_HUB_OFFLINE=1 ` +
      `(offline mode): download it once online, or pass a local model directory`);
  }
  const hubUrl = (opts.hubUrl || process.env.HF_ENDPOINT || HUB_URL).replace(/\/+$/, '');
  const accessToken = opts.token ?? hfToken();
  return { job: { spec, repo, revision, cacheDir, storage, hubUrl, accessToken, onProgress: opts.onProgress, onResolve: opts.onResolve } };
}

/** Run hub requests with the library's download chatter silenced and failures explained. */
async function online<T>(job: DownloadJob, run: (job: DownloadJob) => Promise<T>): Promise<T> {
  job.onResolve?.(job.spec, job.hubUrl);
  try {
    return await withoutLibraryChatter(() => run(job));
  } catch (e) {
    throw explain(e, job.repo, job.revision, job.hubUrl, job.accessToken !== undefined);
  }
}

/**
 * downloadFileToCacheDir logs `Downloading <file> to <blob>.incomplete` with console.debug (stdout in Node), which
 * would tear the CLI's progress bar; drop just those lines while downloads run (ref-counted for overlapping calls).
 */
let quietDepth = 0;
let savedDebug: typeof console.debug = console.debug;
async function withoutLibraryChatter<T>(run: () => Promise<T>): Promise<T> {
  if (quietDepth++ === 0) {
    savedDebug = console.debug;
    const original = savedDebug;
    console.debug = (...args: unknown[]) => {
      if (!(typeof args[0] === 'string' && /^Downloading .* to .*\.incomplete$/.test(args[0]))) original(...args);
    };
  }
  try {
    return await run();
  } finally {
    if (--quietDepth === 0) console.debug = savedDebug;
  }
}

/** A local directory must exist and hold config.json or safetensors files; a safetensors or index file is taken as is. */
function checkLocalDir(dir: string): string {
  if (!statSync(dir).isDirectory()) {
    if (dir.endsWith('.safetensors') || dir.endsWith('.safetensors.index.json')) return dir;
    throw new Error(`Model path ${dir} is neither a directory nor a .safetensors / .safetensors.index.json file`);
  }
  const names = readdirSync(dir);
  if (!names.includes(CONFIG) && !names.some((n) => n.endsWith('.safetensors'))) {
    throw new Error(`Model directory ${dir} holds neither ${CONFIG} nor any .safetensors file${convertHint(names)}`);
  }
  return dir;
}

/** The snapshot directory for `revision` if the cache holds config.json and every weight file, else undefined. */
function cachedSnapshot(storage: string, revision: string): string | undefined {
  let commit = revision;
  if (!COMMIT_SHA.test(revision)) {
    try {
      commit = readFileSync(join(storage, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  const snapshot = join(storage, 'snapshots', commit);
  return snapshotComplete(snapshot) ? snapshot : undefined;
}

function snapshotComplete(snapshot: string): boolean {
  // existsSync follows symlinks, so a dangling link to a missing blob counts as absent.
  if (!existsSync(join(snapshot, CONFIG))) return false;
  if (existsSync(join(snapshot, SINGLE))) return true;
  try {
    return shardsOf(readFileSync(join(snapshot, INDEX), 'utf8')).every((s) => existsSync(join(snapshot, s)));
  } catch {
    return false;
  }
}

function shardsOf(indexJson: string): string[] {
  const index = JSON.parse(indexJson) as { weight_map?: Record<string, string> };
  if (!index.weight_map) throw new Error(`${INDEX} has no weight_map`);
  return [...new Set(Object.values(index.weight_map))];
}

interface DownloadJob {
  spec: string;
  repo: string;
  revision: string;
  cacheDir: string;
  storage: string;
  hubUrl: string;
  accessToken?: string;
  onProgress?: ResolveOptions['onProgress'];
  onResolve?: ResolveOptions['onResolve'];
}

/** Model info, the ref, and the config files in the cache; returns what the weights step needs. */
async function prepareSnapshot(job: DownloadJob) {
  const { repo, revision, cacheDir, hubUrl, accessToken } = job;
  const info = await modelInfo({ name: repo, revision, hubUrl, accessToken, additionalFields: ['sha', 'filePaths'], fetch: timedFetch() });
  const commit = info.sha;
  if (!commit || !COMMIT_SHA.test(commit)) throw new Error(`the hub returned no commit sha for ${repo}@${revision}`);
  // Python's _cache_commit_hash_for_specific_revision: a ref per non-sha revision, holding the bare sha.
  if (revision !== commit) {
    const ref = join(job.storage, 'refs', revision);
    await mkdir(dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }
  const files = new Set(info.filePaths);
  if (!files.has(CONFIG)) throw new Error(`${repo}@${revision} has no ${CONFIG}`);
  const fetchFile = async (path: string) => {
    // Passing the commit sha (not the branch) makes the library name the snapshot after the repo's commit.
    const params = { repo, path, revision: commit, cacheDir, hubUrl, accessToken };
    return downloadFileToCacheDir({ ...params, fetch: job.onProgress ? progressFetch(path, job.onProgress) : timedFetch() });
  };
  await fetchFile(CONFIG);
  if (files.has(PREPROCESSOR)) await fetchFile(PREPROCESSOR);
  return { commit, files, fetchFile, snapshot: join(job.storage, 'snapshots', commit) };
}

/** model.safetensors, else the sharded index; a repo with neither is refused, naming what it has. */
function weightsOf(job: DownloadJob, files: Set<string>): string {
  if (files.has(SINGLE)) return SINGLE;
  if (files.has(INDEX)) return INDEX;
  const others = [...files].filter((f) => /\.(bin|pth|pt|h5|msgpack|onnx)$/.test(f));
  throw new Error(`${job.repo}@${job.revision} has no ${SINGLE} nor ${INDEX}` +
    (convertHint(files) || (others.length ? ` (only ${others.join(', ')}; convert the weights to safetensors)` : '')));
}

async function download(job: DownloadJob): Promise<string> {
  const snap = await prepareSnapshot(job);
  if (weightsOf(job, snap.files) === SINGLE) {
    await snap.fetchFile(SINGLE);
  } else {
    const shards = shardsOf(await readFile(await snap.fetchFile(INDEX), 'utf8'));
    for (const shard of shards) await snap.fetchFile(shard);
  }
  return snap.snapshot;
}

/** A fetch that reports the bytes of full-body GETs (the library's actual download; its probes use Range). */
function progressFetch(file: string, onProgress: NonNullable<ResolveOptions['onProgress']>): typeof fetch {
  const timed = timedFetch();
  return async (input, init) => {
    const res = await timed(input, init);
    const ranged = new Headers(init?.headers).has('range');
    if ((init?.method ?? 'GET') !== 'GET' || ranged || !res.ok || !res.body) return res;
    const length = Number(res.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? length : undefined;
    let loaded = 0;
    onProgress({ file, loaded, total });
    const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        loaded += chunk.byteLength;
        onProgress({ file, loaded, total });
        out.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** Turn library / network failures into messages that name the model and say what to do. */
function explain(e: unknown, repo: string, revision: string, hubUrl: string, hasToken: boolean): Error {
  const what = `${repo} (revision '${revision}')`;
  if (e instanceof HubApiError) {
    const detail = e.message.split('. URL:')[0];
    if (e.statusCode === 401 || e.statusCode === 403) {
      return new Error(`Model ${what} was not found on ${hubUrl} or is private/gated (HTTP ${e.statusCode}: ${detail}); ` +
        (hasToken ? 'check that your token (HF_TOKEN) has access to it' : 'set HF_TOKEN if it is private or gated'), { cause: e });
    }
    if (e.statusCode === 404) {
      const access = hasToken && /repository not found/i.test(detail)
        ? '; if it is private or gated, check that your token (HF_TOKEN) has access to it' : '';
      return new Error(`Model ${what} was not found on ${hubUrl} (HTTP 404: ${detail})${access}`, { cause: e });
    }
    return new Error(`Hub request for ${what} failed with HTTP ${e.statusCode}: ${detail}`, { cause: e });
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const offline = 'Set HF_HUB_OFFLINE=1 to use cached models only, HF_ENDPOINT for a mirror, or pass a local model directory';
  if (err instanceof HubTimeoutError || (err.cause instanceof HubTimeoutError)) {
    return new Error(`Could not reach the Hugging Face Hub at ${hubUrl} to download ${what}: ${err.message}. ${offline}`, { cause: e });
  }
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause = err.cause instanceof Error ? `: ${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message}` : '';
    return new Error(`Could not reach the Hugging Face Hub at ${hubUrl} to download ${what}${cause}. ` +
      'Set HF_HUB_OFFLINE=1 to use cached models only, HF_ENDPOINT for a mirror, or pass a local model directory', { cause: e });
  }
  return new Error(`Downloading ${what} from ${hubUrl} failed: ${err.message}`, { cause: e });
}
