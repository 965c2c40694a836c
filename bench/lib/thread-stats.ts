/**
 * Per-thread CPU and context switches of a process, read from /proc: the engines probes use them
 * to say where CPU per operation goes (main thread vs thread pool, GC and compiler threads) and how
 * often processes are woken, figures that survive a loaded machine better than wall time.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** CPU milliseconds of a process's main thread and of its other threads, and its context switches. */
export interface ThreadStats { main: number; rest: number; vcs: number; ics: number }

/** CPU milliseconds (user + system, 10 ms ticks) thread `tid` of `pid` has taken so far; throws once the thread has ended. */
function taskCpuMs(pid: number, tid: string): number {
  const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** CPU milliseconds of `pid`'s main thread and of all its other threads, and its voluntary and involuntary context switches, so far. */
export function threadStats(pid: number): ThreadStats {
  const out = { main: 0, rest: 0, vcs: 0, ics: 0 };
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ms = taskCpuMs(pid, t);
      if (Number(t) === pid) out.main += ms; else out.rest += ms;
      const st = readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      out.vcs += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
      out.ics += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    } catch { /* a thread that ended */ }
  }
  return out;
}

/** `threadStats` summed over `pids`. */
export function threadsOf(pids: readonly number[]): ThreadStats {
  return pids.map(threadStats).reduce((a, x) => ({ main: a.main + x.main, rest: a.rest + x.rest, vcs: a.vcs + x.vcs, ics: a.ics + x.ics }), { main: 0, rest: 0, vcs: 0, ics: 0 });
}

/** One thread of a process: its id, its name (`comm`: `node` for Node's own threads, `iou-wrk-<pid>` for io_uring's) and its CPU milliseconds so far. */
export interface ThreadCpu { tid: number; name: string; ms: number }

/** Every thread of `pid` with its CPU so far (threads that end meanwhile are left out). */
export function threadList(pid: number): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push({ tid: Number(t), name: readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim(), ms: taskCpuMs(pid, t) });
    } catch { /* a thread that ended */ }
  }
  return out;
}
