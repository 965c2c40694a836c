/**
 * Child process of the `engines` suite (bench/engines.bench.ts): one client of a connected pool in
 * a process of its own, so "two clients" really are two processes with their own event loops.
 * Started with `fork` (IPC); argv[2] is a JSON `ClientTask`. It connects, opens the container,
 * warms up (`warmUpMs` of puts), sends `{ type: 'ready' }`, then for each `{ type: 'go', durationMs? }` runs
 * new-object puts of `valueBytes` bytes with `queueDepth` in flight for `durationMs` (the message's, else
 * the task's) and sends `{ type: 'result', puts, seconds }`, until `{ type: 'stop' }` (or the parent
 * goes): one process serves every measured phase of a round-robin, warm.
 * Uses the public API only.
 */
import { Pool } from '../../index.js';
import { RpcClient } from '../../src/net/rpc.js';
import { batchMethods } from '../../src/net/link.js';

/** CAIRN_PROBE_COUNT=1: count RPC calls and errors by method / code (reported with the result). */
const stats: Record<string, number> = {};
if (process.env.CAIRN_PROBE_COUNT) {
  const orig = RpcClient.prototype.call;
  RpcClient.prototype.call = async function (this: RpcClient, method, header, payload, o) {
    stats[method] = (stats[method] ?? 0) + 1;
    // (items per batch: how many shard writes share a request)
    if (method === 'engine.batch') stats['batch.items'] = (stats['batch.items'] ?? 0) + batchMethods(payload).length;
    try { return await orig.call(this, method, header, payload, o); } catch (err) { const k = `error:${(err as { code?: string }).code}`; stats[k] = (stats[k] ?? 0) + 1; throw err; }
  };
}

/** What one client process does. */
export interface ClientTask {
  etcd: string; pool: string; secret: string; container: string;
  /** Prefix of the object names this client creates (distinct per client). */
  prefix: string;
  valueBytes: number; queueDepth: number; durationMs: number;
  /** Puts before the measured phase, for at least this long (JIT warm-up; at least 20 puts). */
  warmUpMs: number;
  /** And at least this many puts (default 20). */
  warmUpPuts?: number;
}

/** What it reports. */
export interface ClientResult { type: 'result'; puts: number; seconds: number; /** CPU milliseconds of this process during the measured phase. */ cpuMs: number; /** RPC calls and errors (CAIRN_PROBE_COUNT=1). */ stats?: Record<string, number> }

const send = (msg: unknown) => new Promise<void>((res) => { if (process.send) process.send(msg, () => res()); else res(); });

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2]!) as ClientTask;
  const pool = await Pool.connect({ etcd: task.etcd, pool: task.pool, secret: task.secret });
  try {
    const cont = await pool.openContainer(task.container);
    await cont.openTargets();
    const value = new Uint8Array(task.valueBytes).fill(0x42);
    // Warm the connections and the code paths (the JIT needs a few thousand calls) before the measured phase.
    let w = 0;
    const warmEnd = performance.now() + task.warmUpMs;
    await Promise.all(Array.from({ length: task.queueDepth }, async () => {
      while (w < (task.warmUpPuts ?? 20) || performance.now() < warmEnd) { const i = w++; await cont.object(`${task.prefix}-warm-${i}`).update('d', 'a', value); }
    }));
    // Messages are queued as they come (a 'go' may arrive while the previous phase still reports).
    const inbox: Array<{ type: string; durationMs?: number }> = [];
    let wake: (() => void) | undefined;
    const onMessage = (m: { type?: string; durationMs?: number } | string) => { inbox.push(typeof m === 'string' ? { type: m } : { type: m.type ?? 'go', ...(m.durationMs !== undefined ? { durationMs: m.durationMs } : {}) }); wake?.(); };
    process.on('message', onMessage);
    process.once('disconnect', () => { inbox.push({ type: 'stop' }); wake?.(); });
    await send({ type: 'ready' });
    let next = 0;
    for (;;) {
      while (inbox.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
      const m = inbox.shift()!;
      if (m.type === 'stop') break;
      let puts = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const end = t0 + (m.durationMs ?? task.durationMs);
      await Promise.all(Array.from({ length: task.queueDepth }, async () => {
        while (performance.now() < end) { puts++; const i = next++; await cont.object(`${task.prefix}-${i}`).update('d', 'a', value); }
      }));
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      await send({ type: 'result', puts, seconds, cpuMs: (c.user + c.system) / 1000, ...(process.env.CAIRN_PROBE_COUNT ? { stats } : {}) } satisfies ClientResult);
    }
    process.off('message', onMessage);
  } finally {
    await pool.close();
  }
}

main().catch(async (e) => {
  await send({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  process.exitCode = 1;
});
