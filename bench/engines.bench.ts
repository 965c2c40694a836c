/**
 * Connected pools against embedded pools of the same shape, in one run: 4 `cairn engine`
 * processes on loopback (2 targets each, pool map in a real etcd) and an embedded pool of 4 nodes
 * x 1 rank x 2 targets, both open at once. Classes are 3 wide (EC_2P1G1, RP_3G1) because 4
 * engines are 4 fault domains.
 *
 * Each comparison is timed round-robin (harness `roundRobin`: slices of each system in turn, rate
 * from the median call), so load from other processes on a shared machine hits both alike. Rows
 * (each connected row names its embedded twin as peer, with the target of issue 15):
 *
 * - new-object puts of 100 bytes (a fresh object per put): one at a time, and 16 at once;
 * - 1 MiB array writes and reads (8 in flight, sequential offsets), EC_2P1G1 and RP_3G1;
 * - etcd writes per 1,000 new-object puts (etcd's own revision counter, which counts every write);
 * - many clients: new-object puts from two client processes against one (target: >= 1.5x),
 *   alternating one and two processes so both see the same load.
 *
 * Needs etcd (`node scripts/ensure-etcd.mjs`).
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { Pool, type Container } from '../index.js';
import { Cluster } from './cluster.js';
import { tempDir, removeTempDir, trackChild } from './lib/cleanup.js';
import type { ClientResult, ClientTask } from './lib/engines-client.js';
import { median, roundRobin, type BenchContext, type BenchRow } from './harness.js';

const MIB = 1024 * 1024;
/** Class of the new-object put rows. */
const PUT_CLASS = 'EC_2P1G1';
const IOR_CLASSES = ['EC_2P1G1', 'RP_3G1'];
const VALUE_BYTES = 100;
/** 1 MiB transfers in flight in the array rows. */
const IOR_DEPTH = 8;
const WORKER = new URL('./lib/engines-client.ts', import.meta.url).pathname;
/** Targets of issue 15: connected / embedded, and two client processes / one. */
const TARGET_PUTS = 0.3;
const TARGET_IOR = 0.5;
const TARGET_TWO_CLIENTS = 1.5;
/** At most this many etcd writes per 1,000 new-object puts (issue 15). */
const TARGET_ETCD_WRITES_PER_1000 = 10;

/** etcd's revision: it counts every write (PLATFORM.md). */
async function etcdRevision(url: string): Promise<number> {
  const r = await fetch(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/cairn/').toString('base64') }) });
  const j = (await r.json()) as { header: { revision: string } };
  return Number(j.header.revision);
}

/** A system under test: its pool and label. */
interface Sys { label: string; pool: Pool }

/** Put new objects (VALUE_BYTES each) `n` at a time; every call writes fresh objects. */
function newObjectPutter(cont: Container, n: number): () => Promise<void> {
  const value = new Uint8Array(VALUE_BYTES).fill(0x37);
  let next = 0;
  return async () => { await Promise.all(Array.from({ length: n }, () => cont.object(`o${next++}`).update('d', 'a', value))); };
}

/** Write (or read back) IOR_DEPTH 1 MiB transfers at the next sequential offsets of one array. */
function arrayIo(cont: Container, phase: 'write' | 'read', written: { n: number }): () => Promise<void> {
  const arr = cont.array('ior-file', { chunkSize: MIB });
  const buf = new Uint8Array(MIB);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  let next = 0;
  return async () => {
    await Promise.all(Array.from({ length: IOR_DEPTH }, async () => {
      if (phase === 'write') { const i = written.n++; await arr.write(i * MIB, buf); return; }
      const i = next++ % Math.max(1, written.n);
      const d = await arr.read(i * MIB, MIB);
      if (d[7] !== buf[7] || d[MIB - 1] !== buf[MIB - 1]) throw new Error(`array read ${i} came back wrong`);
    }));
  };
}

/** Run `clients` client processes against the pool at once for `ms`; total puts per second. */
async function clientProcesses(cluster: Cluster, clients: number, ms: number, qd: number, tag: string): Promise<number> {
  const procs = Array.from({ length: clients }, (_, i) => {
    const task: ClientTask = { etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret, container: 'clients', prefix: `${tag}-c${i}`, valueBytes: VALUE_BYTES, queueDepth: qd, durationMs: ms };
    const child = fork(WORKER, [JSON.stringify(task)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    trackChild(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    const ready = new Promise<void>((resolve, reject) => {
      child.on('message', (m: { type: string; message?: string }) => { if (m.type === 'ready') resolve(); else if (m.type === 'error') reject(new Error(m.message)); });
      child.once('exit', (code) => reject(new Error(`client exited with ${code} before it was ready: ${stderr}`)));
    });
    const result = new Promise<ClientResult>((resolve, reject) => {
      child.on('message', (m: ClientResult | { type: string; message?: string }) => { if (m.type === 'result') resolve(m as ClientResult); else if (m.type === 'error') reject(new Error((m as { message?: string }).message)); });
      child.once('exit', (code) => reject(new Error(`client exited with ${code}: ${stderr}`)));
    });
    return { child, ready, result };
  });
  await Promise.all(procs.map((p) => p.ready));
  for (const p of procs) p.child.send('go');
  const results = await Promise.all(procs.map((p) => p.result));
  return results.reduce((n, r) => n + r.puts / r.seconds, 0);
}

export default async function enginesBench(ctx: BenchContext): Promise<BenchRow[]> {
  const budget = (ms: number) => ({ budgetMs: ctx.quick ? ms / 4 : ms, sliceMs: ctx.quick ? 150 : 400, minRounds: 3 });
  /** Data file cap per target (sparse): room for every write of the array rows. */
  const dataMiB = 4096;
  const rows: BenchRow[] = [];
  const dir = tempDir('cairn-engines-');
  ctx.progress('engines: starting etcd and 4 engines');
  const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: `${dataMiB}M` });
  const embeddedPool = await Pool.create(join(dir, 'pool'), { nodes: 4, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 256 * MIB, dataBytes: dataMiB * MIB });
  const connectedPool = await cluster.connect();
  const systems: Sys[] = [{ label: 'embedded', pool: embeddedPool }, { label: '4 engines', pool: connectedPool }];
  const versus = (r: BenchRow, target: number): BenchRow => ({ ...r, peer: r.name.replace(' 4 engines', ' embedded'), targetRatio: target });
  try {
    // ------------------------------------------------------------ new-object puts
    for (const qd of [1, 16]) {
      const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd${qd}`;
      const cases = [];
      for (const s of systems) {
        const cont = await s.pool.createContainer(`puts-qd${qd}`, { oclass: PUT_CLASS });
        await cont.openTargets();
        cases.push({ name: `${base} ${s.label}`, fn: newObjectPutter(cont, qd), unitsPerCall: qd });
      }
      const res = await roundRobin(cases, ctx, { ...budget(8000), label: base });
      for (const c of cases) {
        const r = res.get(c.name)!;
        const row: BenchRow = { name: c.name, suite: 'engines', opsPerSecond: r.perSecond, extra: { medianMs: Number(r.medianMs.toFixed(3)), calls: r.samples } };
        rows.push(c.name.endsWith('4 engines') ? versus(row, TARGET_PUTS) : row);
      }
    }

    // ------------------------------------------------------------ etcd writes per 1,000 new-object puts
    {
      const cont = await connectedPool.createContainer('etcd-count', { oclass: PUT_CLASS });
      await cont.openTargets();
      const put = newObjectPutter(cont, 16);
      const n = ctx.quick ? 512 : 2048;
      const rev0 = await etcdRevision(cluster.etcdUrl);
      for (let i = 0; i < n / 16; i++) await put();
      const rev1 = await etcdRevision(cluster.etcdUrl);
      const perThousand = ((rev1 - rev0) / n) * 1000;
      rows.push({
        name: 'etcd writes per 1000 new-object puts 4 engines', suite: 'engines',
        extra: { etcdWrites: rev1 - rev0, puts: n, perThousand: Number(perThousand.toFixed(2)), target: TARGET_ETCD_WRITES_PER_1000, met: perThousand <= TARGET_ETCD_WRITES_PER_1000 ? 'yes' : 'NO' },
      });
    }

    // ------------------------------------------------------------ 1 MiB array writes and reads
    for (const oclass of IOR_CLASSES) {
      const conts = await Promise.all(systems.map(async (s) => { const c = await s.pool.createContainer(`ior-${oclass}`, { oclass }); await c.openTargets(); return c; }));
      const written = systems.map(() => ({ n: 0 }));
      for (const phase of ['write', 'read'] as const) {
        const base = `ior ${phase} 1MiB seq ${oclass} qd${IOR_DEPTH}`;
        const cases = systems.map((s, i) => ({ name: `${base} ${s.label}`, fn: arrayIo(conts[i]!, phase, written[i]!), unitsPerCall: IOR_DEPTH * MIB }));
        const res = await roundRobin(cases, ctx, { ...budget(phase === 'write' ? 6000 : 8000), label: base });
        for (const c of cases) {
          const r = res.get(c.name)!;
          const row: BenchRow = { name: c.name, suite: 'engines', bytesPerSecond: r.perSecond, extra: { medianMs: Number(r.medianMs.toFixed(2)), calls: r.samples } };
          rows.push(c.name.endsWith('4 engines') ? versus(row, TARGET_IOR) : row);
        }
      }
      for (const c of conts) await c.close();
    }

    // ------------------------------------------------------------ many clients
    await (await connectedPool.createContainer('clients', { oclass: PUT_CLASS })).close();
    const ms = ctx.quick ? 1500 : 3000;
    const one: number[] = [], two: number[] = [];
    for (let round = 0; round < (ctx.quick ? 1 : 2); round++) {
      ctx.progress(`engines: new-object puts from 1 client process (round ${round + 1})`);
      one.push(await clientProcesses(cluster, 1, ms, 16, `one${round}`));
      ctx.progress(`engines: new-object puts from 2 client processes (round ${round + 1})`);
      two.push(await clientProcesses(cluster, 2, ms, 16, `two${round}`));
    }
    const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd16 4 engines`;
    rows.push({ name: `${base} 1 client process`, suite: 'engines', opsPerSecond: median(one), extra: { rounds: one.length } });
    rows.push({ name: `${base} 2 client processes`, suite: 'engines', opsPerSecond: median(two), peer: `${base} 1 client process`, targetRatio: TARGET_TWO_CLIENTS, extra: { rounds: two.length } });
  } finally {
    await connectedPool.close();
    await embeddedPool.close();
    await cluster.stop();
    removeTempDir(dir);
  }
  return rows;
}
