/**
 * Piscina worker: owns one inference session (its backend's copy of the weights; the JS-side weights are
 * the pool's SharedArrayBuffers, mapped, not copied) and decodes + preprocesses its batch's images itself.
 */
import { workerData } from 'node:worker_threads';
import { preprocessImage } from '../engine/preprocess.js';
import { createSession, outputWidth, type InferenceSession } from '../engine/session.js';
import type { ClassifyReply, ClassifyTask, FileResult, ForwardReply, ForwardTask, WorkerInit } from './protocol.js';
import { softmaxTopK } from './scores.js';

const init = workerData as WorkerInit;
const { model } = init;
const sessionReady: Promise<InferenceSession> = createSession(model, init.backend, { threads: init.threads, gpuIndex: init.gpuIndex });
// An init failure must surface on the first task, not as an unhandled rejection that kills the worker.
sessionReady.catch(() => undefined);

/** Test hook: a worker that meets a file whose path contains this marker dies, as a crashing decoder would. */
const crashMarker = process.env.VIT_TEST_WORKER_CRASH_MARKER;

async function classify(task: ClassifyTask): Promise<ClassifyReply> {
  const session = await sessionReady;
  const c = model.config;
  const [h, w] = c.imageSize;
  const per = c.numChannels * h * w;
  const t0 = performance.now();
  const pixels = await Promise.all(
    task.files.map(async (f) => {
      if (crashMarker && f.includes(crashMarker)) process.exit(70);
      try {
        return await preprocessImage(f, c.preprocess, [h, w]);
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    }),
  );
  const good = pixels.flatMap((p, i) => (p instanceof Error ? [] : [i]));
  const batch = new Float32Array(good.length * per);
  good.forEach((i, j) => batch.set(pixels[i] as Float32Array, j * per));
  const t1 = performance.now();
  const results: FileResult[] = pixels.map((p) => (p instanceof Error ? { error: p.message } : { top: [] }));
  if (good.length) {
    const logits = await session.run(batch, good.length);
    const k = outputWidth(model);
    good.forEach((i, j) => {
      results[i] = { top: softmaxTopK(logits.subarray(j * k, (j + 1) * k), task.topK, c.labels) };
    });
  }
  return { results, decodeMs: t1 - t0, forwardMs: performance.now() - t1, deviceMs: session.lastDeviceMs?.() };
}

async function forward(task: ForwardTask): Promise<ForwardReply> {
  const session = await sessionReady;
  const t0 = performance.now();
  const logits = await session.run(task.pixels, task.batch);
  return { logits, forwardMs: performance.now() - t0, deviceMs: session.lastDeviceMs?.(), rssMB: process.memoryUsage.rss() / 2 ** 20 };
}

export default async function run(task: ClassifyTask | ForwardTask | { kind: 'ready' }): Promise<unknown> {
  if (task.kind === 'classify') return classify(task);
  if (task.kind === 'forward') return forward(task);
  await sessionReady;
  return { ready: true };
}
