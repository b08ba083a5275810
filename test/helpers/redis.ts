/**
 * A real redis-server for the queue tests: started on a free port in a temporary directory (no persistence),
 * stopped after. `startRedis` resolves to undefined, saying why, where redis-server is absent or cannot start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function redisServerMissing(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? `redis-server is not installed (apt-get install -y redis-server): ${r.error?.message ?? r.stderr}` : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  private child?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'vit-redis-'));

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const s = new RedisServer(await freePort());
    await s.up();
    return s;
  }

  /** (Re)starts the server on the same port; resolves once it accepts connections. */
  async up(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`redis-server did not start in 10 s: ${log}`)), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('Ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`redis-server exited with ${code}: ${log}`));
      });
    });
  }

  /** Stops the server (SIGKILL: a crash, not a clean shutdown). */
  async down(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A running server, or undefined with the reason printed. */
export async function startRedis(what: string): Promise<RedisServer | undefined> {
  const missing = redisServerMissing();
  if (missing) {
    console.warn(`skipping ${what}: ${missing}`);
    return undefined;
  }
  try {
    return await RedisServer.start();
  } catch (e) {
    console.warn(`skipping ${what}: redis-server cannot start: ${(e as Error).message}`);
    return undefined;
  }
}
