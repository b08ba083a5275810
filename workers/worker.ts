/**
 * Piscina worker: owns one inference session (its backend's copy of the weights; the JS-side weights are
 * the pool's SharedArrayBuffers, mapped, not copied) and decodes + preprocesses its batch's images itself.
 */
import { workerData } from 'node:worker_threads';
import { preprocessImage } from '../engine/preprocess.js';
import { createSession, type InferenceSession } from '../engine/session.js';
import { outputWidth, pixelsPerImage } from '../model/shapes.js';
import { sharedFloat32 } from '../model/weights.js';
import type { ClassifyReply, ClassifyTask, ForwardReply, ForwardTask, PreprocessReply, PreprocessTask, WorkerInit } from './protocol.js';
import { resultsFromSlots } from './scores.js';

const init = workerData as WorkerInit;
const { model } = init;
const sessionReady: Promise<InferenceSession> =
  init.backend === 'none' ? Promise.reject(new Error('decode-only worker has no session')) : createSession(model, init.backend, init.session);
// An init failure must surface on the first task, not as an unhandled rejection that kills the worker.
sessionReady.catch(() => undefined);

/** Test hook: a worker that meets a file whose path contains this marker dies, as a crashing decoder would. */
const crashMarker = process.env.VIT_TEST_WORKER_CRASH_MARKER;

async function preprocess(task: PreprocessTask): Promise<PreprocessReply> {
  const c = model.config;
  const per = pixelsPerImage(c);
  const t0 = performance.now();
  const pixels = await Promise.all(
    task.files.map(async (f) => {
      if (crashMarker && f.includes(crashMarker)) process.exit(70);
      try {
        return await preprocessImage(f, c.preprocess);
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

async function forward(task: ForwardTask): Promise<ForwardReply> {
  const session = await sessionReady;
  const t0 = performance.now();
  const logits = await session.run(task.pixels, task.batch);
  return { logits, forwardMs: performance.now() - t0, deviceMs: session.lastDeviceMs?.() };
}

export default async function run(task: ClassifyTask | PreprocessTask | ForwardTask | { kind: 'ready' }): Promise<unknown> {
  if (task.kind === 'classify') return classify(task);
  if (task.kind === 'preprocess') return preprocess(task);
  if (init.backend === 'none') return { ready: true };
  if (task.kind === 'forward') return forward(task);
  await sessionReady;
  return { ready: true };
}
