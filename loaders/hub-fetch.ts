/**
 * fetch for hub requests with time limits and retries: a server that accepts and never answers (or stops
 * sending mid-body) fails in seconds, not minutes.
 *
 * - VIT_HUB_TIMEOUT_MS (default 10000): limit for the response headers, and for each wait between body chunks.
 * - VIT_HUB_RETRIES (default 2): retries after a timeout, a network error or HTTP 502/503/504, waiting
 *   0.5 s, 1 s, 2 s ... between attempts. Other HTTP answers are returned as they are.
 */

export class HubTimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly attempts: number,
    readonly ms: number,
    readonly last: string,
  ) {
    super(`${url}: ${last} (${attempts} attempt${attempts > 1 ? 's' : ''}, ${ms} ms limit each; VIT_HUB_TIMEOUT_MS sets it)`);
  }
}

export function hubTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.VIT_HUB_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
}

export function hubRetries(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.VIT_HUB_RETRIES);
  return Number.isInteger(n) && n >= 0 ? n : 2;
}

const RETRY_STATUS = new Set([502, 503, 504]);

/** A fetch with the limits above around `base`. */
export function timedFetch(base: typeof fetch = fetch, ms = hubTimeoutMs(), retries = hubRetries()): typeof fetch {
  return async (input, init) => {
    const url = (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url).split('?')[0]!;
    let last = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
      const abort = new AbortController();
      const outer = init?.signal;
      if (outer?.aborted) throw outer.reason;
      outer?.addEventListener('abort', () => abort.abort(outer.reason), { once: true });
      let timer = setTimeout(() => abort.abort(new Error(`no response within ${ms} ms`)), ms);
      try {
        const res = await base(input, { ...init, signal: abort.signal });
        clearTimeout(timer);
        if (RETRY_STATUS.has(res.status) && attempt < retries) {
          last = `HTTP ${res.status}`;
          await res.body?.cancel().catch(() => undefined);
          continue;
        }
        if (!res.body) return res;
        // Each wait for the next body chunk has the same limit.
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => abort.abort(new HubTimeoutError(url, 1, ms, `no data for ${ms} ms while reading the body`)), ms);
        };
        arm();
        const body = res.body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, out) {
              arm();
              out.enqueue(chunk);
            },
            flush() {
              clearTimeout(timer);
            },
          }),
        );
        return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      } catch (e) {
        clearTimeout(timer);
        if (outer?.aborted) throw e;
        const reason = abort.signal.aborted ? (abort.signal.reason as Error).message : ((e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message);
        last = reason;
      }
    }
    throw new HubTimeoutError(url, retries + 1, ms, last);
  };
}
