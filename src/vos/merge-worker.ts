/**
 * Entry of a merge worker thread: runs the merge jobs it is sent (`merge-job.ts`) one after
 * another and answers each with its result or its error (code, message and info, rebuilt as a
 * `VosError` by the store).
 */
import { parentPort } from 'node:worker_threads';
import { CairnError } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { MergeJobStopped, runMergeJob, type MergeJob } from './merge-job.js';

/** A job as sent: `id` pairs it with its answer. */
export interface MergeRequest { id: number; job: MergeJob }

/** An answer: the result, or why there is none. */
export type MergeReply =
  | { id: number; ok: true; result: ReturnType<typeof runMergeJob> }
  | { id: number; ok: false; stop?: MergeJobStopped['why']; code?: string; message: string; info?: Record<string, unknown> };

const port = parentPort;
if (port) {
  const ready = initXxhash();
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
