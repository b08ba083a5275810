/** `vit queue status [--name JOB]`: per job, files recorded / failed / total; for the queue, chunk counts and workers. */
import { checkName, NAMES_KEY, QUEUE, RedisLink } from './redis.js';
import { isComplete, jobProgress, type JobProgress } from './results.js';

export interface StatusOptions {
  redis: string;
  redisRetry: number;
  name?: string;
  json?: boolean;
}

export interface QueueStatus {
  queue: { waiting: number; active: number; delayed: number; failed: number; workers: number };
  jobs: (JobProgress & { name: string; complete: boolean })[];
}

export async function runStatus(o: StatusOptions): Promise<QueueStatus> {
  const link = new RedisLink({ url: o.redis, retrySeconds: o.redisRetry, who: 'vit queue status' });
  try {
    const redis = link.client();
    await link.ready(redis);
    const names = o.name ? [checkName(o.name)] : (await link.race(redis.smembers(NAMES_KEY))).sort();
    if (o.name && !(await link.race(redis.sismember(NAMES_KEY, o.name)))) throw new Error(`no job "${o.name}" (vit queue status lists them)`);
    const { Queue } = await import('bullmq');
    const queue = new Queue(QUEUE, { connection: link.client() });
    queue.on('error', () => undefined);
    const c = await link.race(queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'));
    const workers = await link.race(queue.getWorkersCount());
    await queue.close();
    const jobs = [];
    for (const name of names) {
      const p = await link.race(jobProgress(redis, name));
      jobs.push({ name, ...p, complete: isComplete(p) });
    }
    const status: QueueStatus = { queue: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, workers }, jobs };
    if (o.json) process.stdout.write(`${JSON.stringify(status)}\n`);
    else {
      const q = status.queue;
      process.stdout.write(`queue ${QUEUE}: ${q.waiting} chunk(s) waiting, ${q.active} active, ${q.delayed} retrying, ${q.failed} failed; ${q.workers} worker(s) connected\n`);
      for (const j of jobs) {
        const state = j.complete ? 'complete' : j.submitted ? 'running' : 'submitting';
        process.stdout.write(`${j.name}: ${state}, ${j.done + j.failed}/${j.total} recorded (${j.done} classified, ${j.failed} failed), ${j.chunks} chunk(s)\n`);
      }
    }
    return status;
  } finally {
    await link.close();
  }
}
