/**
 * A hub checkpoint seen through its safetensors headers only, for `vit inspect` on a model that is not in the
 * cache: hub.ts caches config.json (+ preprocessor_config.json) and reads the headers by HTTP Range with
 * @huggingface/hub's parseSafetensorsMetadata; this file validates them as local headers are validated and wraps
 * them in a CheckpointTensors, so the same format detection and key/shape checks run. No tensor data is fetched.
 */
import { fetchRemoteHeaders, type ResolveOptions } from './hub.js';
import { parseHeaderObject, SafetensorsError } from './safetensors/header.js';
import { checkIndexAgrees, checkpointOf, type CheckpointTensors } from './safetensors/shards.js';

export const REMOTE_NOTE = 'remote: headers only, no weights downloaded';

export interface RemoteCheckpoint {
  /** The cache snapshot directory holding config.json (and preprocessor_config.json when the repo has one). */
  dir: string;
  /** Tensor names, dtypes, shapes and byte ranges; `files` are the safetensors URLs; read/readAll refuse. */
  files: CheckpointTensors;
}

/** For a hub id whose snapshot is not complete in the cache, when online; undefined otherwise (use resolveModel). */
export async function openRemoteCheckpoint(spec: string, opts: ResolveOptions = {}): Promise<RemoteCheckpoint | undefined> {
  const remote = await fetchRemoteHeaders(spec, opts);
  if (!remote) return undefined;
  const { parsed, url } = remote;
  const source = url(remote.weightsFile);
  // The library checks offsets against the file size only; the data-section size is not known here (Infinity),
  // every other check is the local reader's, with its messages.
  const header = (path: string, raw: object) => ({ path, ...parseHeaderObject(path, raw as Record<string, unknown>, Infinity) });
  const refuse = (): Promise<never> =>
    Promise.reject(new SafetensorsError(source, 'remote header only: no tensor data was downloaded (resolve the model with resolveModel / loadModel to read weights)'));

  if (!parsed.sharded) {
    const h = header(source, parsed.header);
    return { dir: remote.dir, files: checkpointOf([h], h.metadata, source, refuse) };
  }
  const headers = Object.entries(parsed.headers).map(([file, raw]) => header(url(file), raw));
  const metadata = Object.fromEntries(Object.entries(parsed.index.metadata ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const files = checkpointOf(headers, metadata, source, refuse);
  checkIndexAgrees(source, new Map(Object.entries(parsed.index.weight_map ?? {}).map(([name, file]) => [name, url(file)])), headers);
  return { dir: remote.dir, files };
}
