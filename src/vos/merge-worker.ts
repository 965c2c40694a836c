/**
 * Entry of a merge worker thread: runs the merge jobs it is sent (`merge-job.ts`) one after
 * another and answers each with its result or its error (code, message and info, rebuilt as a
 * `VosError` by the store).
 */
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { CairnError } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { MergeJobStopped, runMergeJob, type MergeJob } from './merge-job.js';

/** A job as sent: `id` pairs it with its answer. */
export interface MergeRequest { id: number; job: MergeJob }

/** An answer: the result, or why there is none. */
export type MergeReply =
  | { ready: true }
  | { id: number; ok: true; result: ReturnType<typeof runMergeJob> }
  | { id: number; ok: false; stop?: MergeJobStopped['why']; code?: string; message: string; info?: Record<string, unknown> };

/**
 * Lower this thread's scheduling priority to `nice` (Linux: a thread is addressed by its id, read
 * from /proc/thread-self): merges then take the cores the threads serving reads and writes leave
 * idle, and writers that outrun them wait at the store's run limit instead of sharing the cores
 * with them. Elsewhere, or when not allowed, the thread keeps its priority.
 */
function lowerPriority(nice: number): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) os.setPriority(tid, nice);
  } catch { /* not Linux, or not permitted: normal priority */ }
}

const port = parentPort;
if (port) {
  const nice = (workerData as { nice?: number } | undefined)?.nice;
  if (typeof nice === 'number' && nice > 0) lowerPriority(nice);
  const ready = initXxhash();
  void ready.then(() => port.postMessage({ ready: true } satisfies MergeReply));
  port.on('message', (req: MergeRequest) => {
    void ready.then(() => {
      let reply: MergeReply;
      try {
        reply = { id: req.id, ok: true, result: runMergeJob(req.job) };
      } catch (e) {
        if (e instanceof MergeJobStopped) reply = { id: req.id, ok: false, stop: e.why, message: e.message };
        else if (e instanceof CairnError) reply = { id: req.id, ok: false, code: e.code, message: e.message, info: e.info };
        else reply = { id: req.id, ok: false, message: (e as Error)?.message ?? String(e) };
      }
      port.postMessage(reply);
    });
  });
}
