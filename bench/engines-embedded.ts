/**
 * The embedded twin of the `engines` suite, in a process of its own (bench/engines.bench.ts forks
 * this file): an embedded pool's memtable flushes and merges run in the background, on its
 * process's event loop. With both systems in the bench process, that work of the embedded pool ran
 * inside the connected pool's time slices (and its CPU was counted there). In its own process it
 * competes only for the machine's cores, as two applications would.
 *
 * Also the workloads both systems run (`newObjectPutter`, `arrayIo`), shared with the suite. Not a
 * suite itself (no `.bench.ts`). The parent talks to it over IPC: `open` (pool shape), `case`
 * (container, class, workload), `slice` (run a case for a number of milliseconds; the reply has
 * each call's time, measured here), `close`.
 */
import { join } from 'node:path';
import { Pool, type Container } from '../index.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';

const MIB = 1024 * 1024;

/** Put new objects (`valueBytes` each) `n` at a time; every call writes fresh objects. */
export function newObjectPutter(cont: Container, n: number, valueBytes: number): () => Promise<void> {
  const value = new Uint8Array(valueBytes).fill(0x37);
  let next = 0;
  return async () => { await Promise.all(Array.from({ length: n }, () => cont.object(`o${next++}`).update('d', 'a', value))); };
}

/**
 * Gets of `n` values at once (each call), of objects chosen at random among `objects` written
 * first by `fill()` (`g0`, `g1`, ...: `valueBytes` each): small reads of existing values, as a
 * key-value reader makes them. The same sequence of objects in every system (a fixed generator).
 */
export function objectGetter(cont: Container, n: number, objects: number, valueBytes: number): { fill: () => Promise<void>; get: () => Promise<void> } {
  const value = new Uint8Array(valueBytes).fill(0x47);
  let seed = 0x9e3779b9;
  const pick = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed % objects; };
  return {
    fill: async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => { while (next < objects) await cont.object(`g${next++}`).update('d', 'a', value); }));
    },
    get: async () => {
      await Promise.all(Array.from({ length: n }, async () => {
        const v = await cont.object(`g${pick()}`).fetch('d', 'a');
        if (v?.length !== valueBytes || v[0] !== 0x47) throw new Error('a get came back wrong');
      }));
    },
  };
}

/**
 * Write (or read back) `depth` 1 MiB transfers at the next sequential offsets of one array.
 * `read` returns a fresh buffer per read; `read-reused` reads into one buffer per transfer in
 * flight, reused, as IOR does with its transfer buffer. (A fresh 1 MiB buffer per read costs a
 * lean client process a full GC every ~10 MiB: V8 counts ArrayBuffer memory against the old
 * generation's allocation limit, whose slack is small in a small heap — measured, engines probe:
 * 13-21 mark-compacts per 256 MiB read against 3-6 with reused buffers, client CPU per MiB
 * 3.6-4.4 ms against 1.2-1.3 ms.)
 */
export function arrayIo(cont: Container, phase: IorPhase, written: { n: number }, depth: number): () => Promise<void> {
  const arr = cont.array('ior-file', { chunkSize: MIB });
  const buf = new Uint8Array(MIB);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  const reused = phase === 'read-reused' ? Array.from({ length: depth }, () => new Uint8Array(MIB)) : undefined;
  let next = 0;
  return async () => {
    await Promise.all(Array.from({ length: depth }, async (_, slot) => {
      if (phase === 'write') { const i = written.n++; await arr.write(i * MIB, buf); return; }
      const i = next++ % Math.max(1, written.n);
      const d = await arr.read(i * MIB, MIB, reused ? { into: reused[slot]! } : {});
      if (d[7] !== buf[7] || d[MIB - 1] !== buf[MIB - 1]) throw new Error(`array read ${i} came back wrong`);
    }));
  };
}

/** A workload of the child: new-object puts, or one phase of 1 MiB array transfers. */
export type EmbeddedWorkload = { kind: 'put'; qd: number; valueBytes: number } | { kind: 'get'; qd: number; objects: number; valueBytes: number } | { kind: 'ior'; phase: IorPhase; depth: number };
/** Phases of the 1 MiB array rows (see `arrayIo`). */
export type IorPhase = 'write' | 'read' | 'read-reused';

/** Requests of the parent. */
export type EmbeddedRequest =
  | { cmd: 'open'; shape: { nodes: number; ranksPerNode: number; targetsPerRank: number; scmBytes: number; dataBytes: number } }
  | { cmd: 'case'; name: string; container: string; oclass: string; workload: EmbeddedWorkload }
  | { cmd: 'slice'; name: string; ms: number; record: boolean; /** At least this many calls, however long they take (warm-ups sized in operations). */ minCalls?: number }
  | { cmd: 'close' };

/** The child's IPC loop (runs when forked with CAIRN_ENGINES_EMBEDDED=1). */
async function serve(): Promise<void> {
  let pool: Pool | undefined;
  let dir: string | undefined;
  const conts = new Map<string, Container>();
  /** Array elements written so far, per container (the read phase reads them back). */
  const written = new Map<string, { n: number }>();
  const cases = new Map<string, () => Promise<void>>();
  const handle = async (m: EmbeddedRequest): Promise<unknown> => {
    switch (m.cmd) {
      case 'open':
        dir = tempDir('cairn-engines-embedded-');
        pool = await Pool.create(join(dir, 'pool'), m.shape);
        return {};
      case 'case': {
        let cont = conts.get(m.container);
        if (!cont) { cont = await pool!.createContainer(m.container, { oclass: m.oclass }); await cont.openTargets(); conts.set(m.container, cont); }
        const w = m.workload;
        if (!written.has(m.container)) written.set(m.container, { n: 0 });
        if (w.kind === 'get') { const g = objectGetter(cont, w.qd, w.objects, w.valueBytes); await g.fill(); cases.set(m.name, g.get); return {}; }
        cases.set(m.name, w.kind === 'put' ? newObjectPutter(cont, w.qd, w.valueBytes) : arrayIo(cont, w.phase, written.get(m.container)!, w.depth));
        return {};
      }
      case 'slice': {
        const fn = cases.get(m.name)!;
        const times: number[] = [];
        const end = performance.now() + m.ms;
        let calls = 0;
        do {
          const a = performance.now();
          await fn();
          calls++;
          if (m.record) times.push(performance.now() - a);
        } while (performance.now() < end || calls < (m.minCalls ?? 0));
        return { times };
      }
      case 'close':
        for (const c of conts.values()) await c.close();
        await pool?.close();
        if (dir) removeTempDir(dir);
        return {};
    }
  };
  process.on('message', (m: EmbeddedRequest & { id: number }) => {
    handle(m).then((r) => process.send!({ id: m.id, ok: true, ...(r as object) }), (err: Error) => process.send!({ id: m.id, ok: false, message: err.stack ?? String(err) }))
      .finally(() => { if (m.cmd === 'close') process.disconnect(); });
  });
}

if (process.env.CAIRN_ENGINES_EMBEDDED === '1' && process.send) void serve();
