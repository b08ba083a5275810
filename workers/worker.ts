/**
 * Piscina worker: owns one inference session (its backend's copy of the weights; the JS-side weights are
 * the pool's SharedArrayBuffers, mapped, not copied) and decodes + preprocesses its batch's images itself.
 */
import { appendFileSync } from 'node:fs';
import { threadId, workerData } from 'node:worker_threads';
import { preprocessDecoded, preprocessImage } from '../engine/preprocess.js';
import { createSession, type InferenceSession } from '../engine/session.js';
import { outputWidth, pixelsPerImage } from '../model/shapes.js';
import { sharedFloat32 } from '../model/weights.js';
import type { ClassifyReply, ClassifyTask, ForwardReply, ForwardTask, OutputReply, OutputTask, PreprocessReply, PreprocessTask, ReadyReply, WorkerInit, WorkerInput } from './protocol.js';
import { resultsFromSlots } from './scores.js';

const init = workerData as WorkerInit;
const { model } = init;
/** This worker's device when the pool spans several GPUs: the next one in turn. */
const gpuIndex = init.gpus?.length && init.gpuSlot ? init.gpus[Atomics.add(init.gpuSlot, 0, 1) % init.gpus.length] : init.sessionOptions?.gpuIndex;
const sessionReady: Promise<InferenceSession> =
  init.backend === 'none' ? Promise.reject(new Error('decode-only worker has no session')) : createSession(model, init.backend, { ...init.sessionOptions, gpuIndex });
// An init failure must surface on the first task, not as an unhandled rejection that kills the worker.
sessionReady.catch(() => undefined);
// This worker's start has settled once its session has (decode-only workers: now, their modules are loaded).
const countStarted = () => void (init.started && Atomics.add(init.started, 0, 1));
if (init.backend === 'none') countStarted();
else sessionReady.then(countStarted, countStarted);

/** Resolves when the pool-wide counter slot[0] reaches `target` (absent: at once), or after `limitMs`. */
async function counted(slot: Int32Array | undefined, target: number | undefined, limitMs: number): Promise<void> {
  const t0 = Date.now();
  while (slot && target && Atomics.load(slot, 0) < target && Date.now() - t0 < limitMs) await new Promise((r) => setTimeout(r, 5));
}

/** Resolves when every worker of the pool has settled its start, or after `limitMs` (a worker that died loading). */
const allStarted = (limitMs = 120_000) => counted(init.started, init.threads, limitMs);

/** Test hook: a worker that meets a file whose path contains this marker dies, as a crashing decoder would. */
const crashMarker = process.env.VIT_TEST_WORKER_CRASH_MARKER;
/** Test hook: a file each worker appends a line to once its session is disposed at close. */
const closeLog = process.env.VIT_TEST_CLOSE_LOG;

/** Decoded pixels to RGB (PIL convert('RGB'): gray replicated, alpha dropped). */
function toRgb(p: Extract<WorkerInput, { pixels: Uint8Array }>): Uint8Array {
  const { width, height, channels } = p;
  const n = width * height;
  if (![1, 2, 3, 4].includes(channels) || !Number.isInteger(n) || n <= 0 || p.pixels.length !== n * channels) {
    throw new Error(`pixels: ${p.pixels.length} bytes do not hold ${width}x${height}x${channels} (channels 1 to 4)`);
  }
  if (channels === 3) return p.pixels;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    rgb[i * 3] = p.pixels[s]!;
    rgb[i * 3 + 1] = p.pixels[channels < 3 ? s : s + 1]!;
    rgb[i * 3 + 2] = p.pixels[channels < 3 ? s : s + 2]!;
  }
  return rgb;
}

async function preprocessOne(f: WorkerInput): Promise<Float32Array> {
  const c = model.config;
  if (typeof f === 'string' || 'bytes' in f) return preprocessImage(typeof f === 'string' ? f : f.bytes, c.preprocess);
  return preprocessDecoded({ width: f.width, height: f.height, data: toRgb(f) }, c.preprocess);
}

async function preprocess(task: PreprocessTask): Promise<PreprocessReply> {
  const c = model.config;
  const per = pixelsPerImage(c);
  const t0 = performance.now();
  const pixels = await Promise.all(
    task.files.map(async (f) => {
      if (crashMarker && typeof f === 'string' && f.includes(crashMarker)) process.exit(70);
      try {
        return await preprocessOne(f);
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    }),
  );
  let rows = 0;
  const slots: PreprocessReply['slots'] = pixels.map((p) => (p instanceof Error ? { error: p.message } : { row: rows++ }));
  const batch = sharedFloat32(rows * per);
  pixels.forEach((p, i) => {
    const s = slots[i]!;
    if ('row' in s) batch.set(p as Float32Array, s.row * per);
  });
  return { pixels: batch, slots, decodeMs: performance.now() - t0 };
}

async function classify(task: ClassifyTask): Promise<ClassifyReply> {
  const session = await sessionReady;
  const p = await preprocess({ kind: 'preprocess', files: task.files });
  const t1 = performance.now();
  const rows = p.slots.filter((s) => 'row' in s).length;
  const logits = rows ? await session.run(p.pixels, rows) : undefined;
  return { results: resultsFromSlots(p.slots, logits, outputWidth(model.config), task.topK, model.config.labels), decodeMs: p.decodeMs, forwardMs: performance.now() - t1, deviceMs: session.lastDeviceMs?.() };
}

async function output(task: OutputTask): Promise<OutputReply> {
  const session = await sessionReady;
  const p = await preprocess({ kind: 'preprocess', files: task.files });
  const t1 = performance.now();
  const n = p.slots.filter((s) => 'row' in s).length;
  const rows = n ? await session.run(p.pixels, n) : new Float32Array(0);
  return { rows, slots: p.slots, decodeMs: p.decodeMs, forwardMs: performance.now() - t1 };
}

async function forward(task: ForwardTask): Promise<ForwardReply> {
  const session = await sessionReady;
  const t0 = performance.now();
  const logits = await session.run(task.pixels, task.batch, task.reusedInput ? { reusedInput: true } : undefined);
  return { logits, forwardMs: performance.now() - t0, deviceMs: session.lastDeviceMs?.() };
}

/** This worker's session disposal (the first 'close' task starts it; later ones wait for it). */
let disposed: Promise<void> | undefined;

/**
 * A 'close' task: waits (up to limitMs) until every close task of the pool has started, so each worker holds one,
 * then disposes this worker's session once. Its tasks have finished: the pool closes only when none run.
 */
async function close(limitMs = 10_000): Promise<{ closed: true }> {
  if (init.closing) Atomics.add(init.closing, 0, 1);
  await counted(init.closing, init.closeTasks, limitMs);
  disposed ??= sessionReady.then(
    async (s) => {
      await s.dispose();
      if (closeLog) appendFileSync(closeLog, `worker ${threadId}: ${s.backend} session disposed\n`);
    },
    () => undefined,
  );
  await disposed.catch(() => undefined);
  return { closed: true };
}

export default async function run(task: ClassifyTask | OutputTask | PreprocessTask | ForwardTask | { kind: 'ready' } | { kind: 'close' }): Promise<unknown> {
  if (task.kind === 'classify') return classify(task);
  if (task.kind === 'output') return output(task);
  if (task.kind === 'preprocess') return preprocess(task);
  if (task.kind === 'forward') return forward(task);
  if (task.kind === 'close') return close();
  await allStarted();
  if (init.backend === 'none') return { ready: true } satisfies ReadyReply;
  const session = await sessionReady;
  return { ready: true, device: session.describe?.() } satisfies ReadyReply;
}
