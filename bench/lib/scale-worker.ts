/**
 * Child process of the `scale` suite (bench/scale.bench.ts): one phase of one system per process,
 * so "reopen" really is a fresh process and a runaway case can be killed without taking the
 * benchmark run down. Started with `fork` (IPC); argv[2] is a JSON `WorkerTask`; it sends
 * `{ type: 'progress' }` messages and one `{ type: 'result' }`, then exits.
 *
 * - `write`: create the store, write objects 0..n-1 (100 bytes each, 32 in flight), report split
 *   times every `SPLIT_OBJECTS`, RSS and heap after writing, close. It checks its own RSS every
 *   `RSS_CHECK_EVERY` puts and stops cleanly (`aborted`) above `rssSoftLimitBytes`. With `crash`
 *   it does not close: it sends its result and kills itself with SIGKILL.
 * - `reopen`: open the store, one random read (first-read latency), `reads` random reads one at
 *   a time, RSS and heap.
 * - `extra` (another fresh process): open the store, read one object, then create
 *   `extraContainers` small containers (namespaces for the peers) with `objectsPerExtraContainer`
 *   objects each, and report the RSS they added; stops cleanly before passing `rssSoftLimitBytes`.
 *
 * Cairn is driven through the public API only.
 */
import path from 'node:path';
import { Pool, type Container } from '../../index.js';
import { Rng } from '../../core/rng.js';
import { openPeer, type PeerKind, type PeerStore } from './kv-peers.js';
import { SPLIT_OBJECTS, type MemFigures, type WorkerResult, type WorkerTask } from './scale-protocol.js';

/** Puts between two checks of this process's RSS. */
const RSS_CHECK_EVERY = 1000;
/** Bytes of each value. */
const VALUE_BYTES = 100;

const objName = (i: number) => `o${i}`;
function value(i: number): Uint8Array {
  const v = new Uint8Array(VALUE_BYTES).fill(0x5a);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}
const indexOf = (v: Uint8Array | undefined) => (v && v.length === VALUE_BYTES ? new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true) : -1);

function mem(): MemFigures {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

const now = () => performance.now() / 1000;
const send = (msg: unknown) => new Promise<void>((res) => { if (process.send) process.send(msg, () => res()); else { console.log(JSON.stringify(msg)); res(); } });

/** One system behind put/get/namespace. */
interface Store {
  put(i: number): Promise<unknown>;
  get(i: number): Promise<Uint8Array | undefined> | Uint8Array | undefined;
  /** Create extra container / namespace `j` with `objects` objects. */
  extra(j: number, objects: number): Promise<void>;
  close(): Promise<void>;
}

async function openCairn(t: WorkerTask, create: boolean): Promise<Store> {
  const pool = create
    ? await Pool.create(t.dir, { ...t.shape, scmBytes: t.scmBytes })
    : await Pool.open(t.dir);
  let cont: Container;
  try {
    cont = create ? await pool.createContainer('scale', { oclass: t.oclass }) : await pool.openContainer('scale');
  } catch (e) { await pool.close(); throw e; }
  return {
    put: (i) => cont.kv(objName(i)).put('v', value(i)),
    get: (i) => cont.kv(objName(i)).get('v'),
    extra: async (j, objects) => {
      const c = await pool.createContainer(`extra-${j}`, { oclass: t.oclass });
      for (let i = 0; i < objects; i++) await c.kv(objName(i)).put('v', value(i));
    },
    close: async () => { await pool.close(); },
  };
}

async function openPeerStore(t: WorkerTask): Promise<Store> {
  const db: PeerStore = await openPeer(t.system as PeerKind, t.dir);
  return {
    put: (i) => db.put(objName(i), value(i)),
    get: (i) => db.get(objName(i)),
    extra: async (j, objects) => {
      const ns = db.namespace(`extra-${j}`);
      for (let i = 0; i < objects; i++) await ns.put(objName(i), value(i));
    },
    close: () => db.close(),
  };
}

/** Memory the write phase holds for its whole life when asked to (kept reachable here). */
let ballast: Uint8Array | undefined;

async function write(t: WorkerTask): Promise<WorkerResult> {
  const res: WorkerResult = { phase: 'write', system: t.system, splits: [] };
  if (t.ballastBytes) ballast = new Uint8Array(t.ballastBytes).fill(1);
  const store = t.system === 'cairn' ? await openCairn(t, true) : await openPeerStore(t);
  let next = 0, done = 0;
  let stop: string | undefined;
  const t0 = now();
  await Promise.all(Array.from({ length: t.depth }, async () => {
    while (next < t.n && !stop) {
      const i = next++;
      await store.put(i);
      done++;
      if (done % SPLIT_OBJECTS === 0) {
        res.splits!.push({ objects: done, seconds: now() - t0 });
        void send({ type: 'progress', objects: done });
      }
      if (done % RSS_CHECK_EVERY === 0 && !stop) {
        const rss = process.memoryUsage.rss();
        if (rss > t.rssSoftLimitBytes) stop = `memory guard: RSS ${(rss / 2 ** 30).toFixed(2)} GiB > ${(t.rssSoftLimitBytes / 2 ** 30).toFixed(2)} GiB after ${done} objects (stopped cleanly)`;
      }
    }
  }));
  res.writeSeconds = now() - t0;
  res.written = done;
  if (stop) res.aborted = stop;
  res.mem = mem();
  if (t.crash) {
    await send({ type: 'result', result: res });
    process.kill(process.pid, 'SIGKILL');
  }
  const c0 = now();
  await store.close();
  res.closeSeconds = now() - c0;
  return res;
}

async function reopen(t: WorkerTask): Promise<WorkerResult> {
  const res: WorkerResult = { phase: 'reopen', system: t.system };
  const rng = new Rng(t.seed);
  const t0 = now();
  const store = t.system === 'cairn' ? await openCairn(t, false) : await openPeerStore(t);
  res.reopenSeconds = now() - t0;
  let bad = 0;
  const first = rng.int(t.n);
  const t1 = now();
  if (indexOf(await store.get(first)) !== first) bad++;
  res.firstReadSeconds = now() - t1;
  const keys = Array.from({ length: t.reads }, () => rng.int(t.n));
  const t2 = now();
  for (const k of keys) if (indexOf(await store.get(k)) !== k) bad++;
  res.readsSeconds = now() - t2;
  res.reads = t.reads;
  if (bad) throw new Error(`${bad} reads after reopen returned wrong values`);
  res.mem = mem();
  await store.close();
  return res;
}

async function extra(t: WorkerTask): Promise<WorkerResult> {
  const res: WorkerResult = { phase: 'extra', system: t.system, extraRssSteps: [] };
  const store = t.system === 'cairn' ? await openCairn(t, false) : await openPeerStore(t);
  await store.get(0);
  let rss = mem().rssBytes;
  res.extraBeforeRssBytes = rss;
  let created = 0;
  for (let j = 0; j < t.extraContainers; j++) {
    const step = res.extraRssSteps!.length ? Math.max(...res.extraRssSteps!) : 0;
    if (rss + step > t.rssSoftLimitBytes) {
      res.aborted = `memory guard: ${created} of ${t.extraContainers} containers made, RSS ${(rss / 2 ** 30).toFixed(2)} GiB, the next would pass ${(t.rssSoftLimitBytes / 2 ** 30).toFixed(2)} GiB (stopped cleanly)`;
      break;
    }
    await store.extra(j, t.objectsPerExtraContainer);
    created++;
    const now = process.memoryUsage.rss();
    res.extraRssSteps!.push(now - rss);
    rss = now;
    void send({ type: 'progress', objects: created, of: t.extraContainers });
  }
  res.extraCreated = created;
  res.extraAfterRssBytes = mem().rssBytes;
  await store.close();
  return res;
}

const task = JSON.parse(process.argv[2]!) as WorkerTask;
task.dir = path.resolve(task.dir);
try {
  const result = task.phase === 'write' ? await write(task) : task.phase === 'reopen' ? await reopen(task) : await extra(task);
  await send({ type: 'result', result });
  process.exit(0);
} catch (e) {
  await send({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  process.exit(1);
}
