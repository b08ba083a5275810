/**
 * A local stand-in for the Hugging Face Hub, speaking the endpoints `@huggingface/hub` calls when it downloads into
 * the cache: `GET /api/models/{repo}/revision/{rev}` (sha + siblings), `POST /api/models/{repo}/paths-info/{rev}`,
 * `GET|HEAD /{repo}/resolve/{rev}/{file}` (with `Range`), answering with the headers the real hub sends
 * (`X-Repo-Commit`, `ETag`, `X-Linked-Etag`, `X-Linked-Size`, `X-Error-Code`). Every request is logged.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FakeFile { path: string; data: Buffer; gitOid: string; lfsOid?: string }
export interface FakeCommit { sha: string; files: Map<string, FakeFile> }
export interface FakeRepo { id: string; branches: Record<string, string>; isPrivate?: boolean }
export interface LoggedRequest { method: string; url: string; authorization?: string; range?: string }

/** The git blob id: sha1 of "blob <size>\0<content>" (what the hub reports as `oid` and `ETag` for non-LFS files). */
export const gitBlobOid = (data: Buffer): string =>
  createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A commit made of the files of a directory; *.safetensors are stored in LFS (as on the hub), the rest in git. */
export function commitFromDir(dir: string): FakeCommit {
  const files = new Map<string, FakeFile>();
  for (const name of readdirSync(dir).sort()) {
    const data = readFileSync(join(dir, name));
    files.set(name, { path: name, data, gitOid: gitBlobOid(data), lfsOid: name.endsWith('.safetensors') ? sha256(data) : undefined });
  }
  const sha = createHash('sha1').update([...files.values()].map((f) => `${f.path}:${f.gitOid}`).join('\n')).digest('hex');
  return { sha, files };
}

export interface FakeHub {
  url: string;
  requests: LoggedRequest[];
  token?: string;
  close(): Promise<void>;
}

/** `commits` are addressed by sha; `repos[].branches` maps branch names to commit shas. */
export async function startFakeHub(repos: FakeRepo[], commits: FakeCommit[], token?: string): Promise<FakeHub> {
  const bySha = new Map(commits.map((c) => [c.sha, c]));
  const requests: LoggedRequest[] = [];

  const fail = (res: ServerResponse, status: number, code: string, error: string) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code });
    res.end(JSON.stringify({ error }));
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const authorization = req.headers.authorization;
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization, range: req.headers.range });
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const api = parts[0] === 'api' && parts[1] === 'models';
    const [org, name, verb, rev, ...rest] = api ? parts.slice(2) : parts;
    const repo = repos.find((r) => r.id === `${org}/${name}`);
    if (!repo || (repo.isPrivate && authorization !== `Bearer ${token}`)) {
      // The hub answers 401 for both a missing and a private repo when the caller is not allowed to see it.
      return fail(res, authorization ? 404 : 401, 'RepoNotFound', 'Repository not found');
    }
    const commit = bySha.get(repo.branches[rev] ?? rev);
    if (!commit) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);

    if (api && verb === 'revision' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({
        _id: repo.id, id: repo.id, sha: commit.sha, private: !!repo.isPrivate, gated: false, downloads: 0, likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z', siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })),
      }));
    }
    if (api && verb === 'paths-info' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { paths } = JSON.parse(body) as { paths: string[] };
      const infos = paths.flatMap((p) => {
        const f = commit.files.get(p);
        if (!f) return [];
        return [{
          type: 'file', path: f.path, oid: f.gitOid, size: f.data.length,
          ...(f.lfsOid && { lfs: { oid: f.lfsOid, size: f.data.length, pointerSize: 134 } }),
          // As on the hub: the last commit that touched this file, in general not the revision's head commit.
          lastCommit: { id: createHash('sha1').update(`touched ${f.path}`).digest('hex'), title: 'upload', date: '2024-01-01T00:00:00.000Z' },
        }];
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(infos));
    }
    if (!api && verb === 'resolve' && (req.method === 'GET' || req.method === 'HEAD')) {
      const f = commit.files.get(rest.join('/'));
      if (!f) return fail(res, 404, 'EntryNotFound', 'Entry not found');
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'X-Repo-Commit': commit.sha,
        ETag: `"${f.gitOid}"`,
        ...(f.lfsOid && { 'X-Linked-Etag': `"${f.lfsOid}"`, 'X-Linked-Size': String(f.data.length) }),
      };
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      let body = f.data;
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), f.data.length - 1) : f.data.length - 1;
        body = f.data.subarray(start, end + 1);
        headers['Content-Range'] = `bytes ${start}-${end}/${f.data.length}`;
      }
      headers['Content-Length'] = String(body.length);
      res.writeHead(range ? 206 : 200, headers);
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    fail(res, 404, 'NotFound', `fake hub: no route for ${req.method} ${req.url}`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => fail(res, 500, 'Internal', String(e)));
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    token,
    close: () => new Promise<void>((ok, ko) => {
      server.closeAllConnections();
      server.close((e) => (e ? ko(e) : ok()));
    }),
  };
}

/** A server that accepts connections and never answers (nor closes them), as a hung proxy or hub does. */
export async function startHangingServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const { createServer: createTcpServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  let count = 0;
  const server = createTcpServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    }),
  };
}
