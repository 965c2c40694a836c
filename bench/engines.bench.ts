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
 * - one RPC round trip to an engine at qd1 (the floor of a connected put's latency) and the qd1
 *   put ratio that floor allows (`bestQd1PutRatio`: embedded put median / round trip median);
 * - etcd writes per 1,000 new-object puts (etcd's own revision counter, which counts every write);
 * - many clients: new-object puts from two client processes against one (target: >= 1.5x),
 *   alternating one and two processes so both see the same load.
 *
 * Every round-robin row also reports its mean call (`meanMs`; connected rows: `meanRatio`, the ratio
 * by mean call, which counts the slow calls the median leaves out) and its CPU time per operation
 * (`cpuMsPerOp`: the bench process plus, for connected rows, every engine process, from /proc; the
 * bench process's share is split by slice, so background work of one system that runs on into the
 * other's slice is counted there): a figure that load from other processes distorts far less than
 * wall-clock rates. Before the measured
 * rows both systems run a short warm-up (the engines' code is optimised by the JIT only once it
 * has run for a while; the embedded pool shares the bench process's warm code).
 *
 * Needs etcd (`node scripts/ensure-etcd.mjs`).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool, type Container } from '../index.js';
import { RpcClient } from '../src/net/rpc.js';
import { ENGINE_METHODS } from '../src/net/protocol.js';
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
/** Warm-up of each client process of the many-clients rows before its measured phase. */
const CLIENT_WARM_UP_MS = 2000;
/** Warm-up of each system before the measured rows (halved in quick runs). */
const WARM_UP_MS = 3000;
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

/** CPU milliseconds (user + system) process `pid` used so far (Linux /proc). */
function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * (1000 / CLOCK_TICKS_PER_SECOND);
}
/** Linux USER_HZ: the unit of the CPU times in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time per case of a round robin: the bench process's own CPU (process.cpuUsage, every
 * thread) goes to the case running; the engines' CPU (read from /proc only when the running case
 * changes) goes to the last connected case that ran, since engine work trails its client's calls
 * (commit notices, memtable flushes) and engines are idle while the embedded pool runs.
 */
class CpuMeter {
  private current?: string;
  private lastConnected?: string;
  private mark = { self: 0, engines: 0 };
  private readonly spent = new Map<string, { self: number; engines: number; units: number }>();
  constructor(private readonly enginePids: () => number[]) {}

  private now(): { self: number; engines: number } {
    const u = process.cpuUsage();
    return { self: (u.user + u.system) / 1000, engines: this.enginePids().reduce((a, pid) => a + procCpuMs(pid), 0) };
  }

  /** `fn` of case `name` doing `units` operations per call, metered; `connected`: it runs on the engines. */
  wrap(name: string, units: number, connected: boolean, fn: () => Promise<void>): () => Promise<void> {
    this.spent.set(name, { self: 0, engines: 0, units: 0 });
    return async () => {
      if (this.current !== name) this.switchTo(name, connected);
      await fn();
      this.spent.get(name)!.units += units;
    };
  }

  private switchTo(name: string | undefined, connected = false): void {
    const n = this.now();
    if (this.current !== undefined) this.spent.get(this.current)!.self += n.self - this.mark.self;
    if (this.lastConnected !== undefined) this.spent.get(this.lastConnected)!.engines += n.engines - this.mark.engines;
    this.mark = n;
    this.current = name;
    if (connected) this.lastConnected = name;
  }

  /** Close the open slice (after a round robin). */
  stop(): void { this.switchTo(undefined); this.lastConnected = undefined; }

  /** CPU milliseconds per operation of case `name`: total, bench process, engines. */
  perOp(name: string): { cpuMsPerOp: number; clientCpuMsPerOp: number; engineCpuMsPerOp: number } {
    const s = this.spent.get(name)!;
    const r = (x: number) => Number((x / Math.max(1, s.units)).toFixed(4));
    return { cpuMsPerOp: r(s.self + s.engines), clientCpuMsPerOp: r(s.self), engineCpuMsPerOp: r(s.engines) };
  }
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

/** Run `clients` client processes against the pool at once for `ms`; total puts per second and CPU per put (clients + engines). */
async function clientProcesses(cluster: Cluster, clients: number, ms: number, qd: number, tag: string): Promise<{ perSecond: number; cpuMsPerOp: number }> {
  const procs = Array.from({ length: clients }, (_, i) => {
    const task: ClientTask = { etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret, container: 'clients', prefix: `${tag}-c${i}`, valueBytes: VALUE_BYTES, queueDepth: qd, durationMs: ms, warmUpMs: CLIENT_WARM_UP_MS };
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
  const pids = cluster.engines.flatMap((e) => (e?.child.pid !== undefined ? [e.child.pid] : []));
  const e0 = pids.reduce((a, pid) => a + procCpuMs(pid), 0);
  for (const p of procs) p.child.send('go');
  const results = await Promise.all(procs.map((p) => p.result));
  const engineMs = pids.reduce((a, pid) => a + procCpuMs(pid), 0) - e0;
  const puts = results.reduce((n, r) => n + r.puts, 0);
  return { perSecond: results.reduce((n, r) => n + r.puts / r.seconds, 0), cpuMsPerOp: (engineMs + results.reduce((n, r) => n + r.cpuMs, 0)) / Math.max(1, puts) };
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
  const meter = new CpuMeter(() => cluster.engines.flatMap((e) => (e?.child.pid !== undefined ? [e.child.pid] : [])));
  /** Round-robin `cases` (metered); rows with rate, median call, CPU per operation and the CPU ratio of connected to embedded. */
  const measure = async (base: string, cases: Array<{ name: string; fn: () => Promise<void>; unitsPerCall: number }>, budgetMs: number, unit: 'ops' | 'bytes', target: number, opUnits = 1): Promise<void> => {
    const metered = cases.map((c) => ({ ...c, fn: meter.wrap(c.name, c.unitsPerCall / opUnits, c.name.endsWith('4 engines'), c.fn) }));
    const res = await roundRobin(metered, ctx, { ...budget(budgetMs), label: base });
    meter.stop();
    const embeddedCpu = meter.perOp(`${base} embedded`).cpuMsPerOp;
    const embeddedMean = res.get(`${base} embedded`)?.meanMs ?? NaN;
    for (const c of cases) {
      const r = res.get(c.name)!;
      const cpu = meter.perOp(c.name);
      const connected = c.name.endsWith('4 engines');
      // The rate (and ratio) come from the median call; the mean call counts the slow ones too
      // (an embedded pool's memtable flushes and merges run inside its calls): both ratios are shown.
      const extra: Record<string, unknown> = {
        medianMs: Number(r.medianMs.toFixed(3)), meanMs: Number(r.meanMs.toFixed(3)), calls: r.samples, ...cpu,
        ...(connected ? { meanRatio: Number((embeddedMean / r.meanMs).toFixed(3)), cpuRatio: Number((embeddedCpu / cpu.cpuMsPerOp).toFixed(3)) } : {}),
      };
      const row: BenchRow = { name: c.name, suite: 'engines', ...(unit === 'ops' ? { opsPerSecond: r.perSecond } : { bytesPerSecond: r.perSecond }), extra };
      rows.push(connected ? versus(row, target) : row);
    }
  };
  try {
    // ------------------------------------------------------------ warm-up (JIT in every process)
    for (const s of systems) {
      ctx.progress(`engines: warm-up ${s.label}`);
      const cont = await s.pool.createContainer('warm-up', { oclass: PUT_CLASS });
      await cont.openTargets();
      const put = newObjectPutter(cont, 16);
      const end = performance.now() + (ctx.quick ? WARM_UP_MS / 2 : WARM_UP_MS);
      while (performance.now() < end) await put();
      const written = { n: 0 };
      const w = arrayIo(cont, 'write', written), r = arrayIo(cont, 'read', written);
      for (let i = 0; i < 4; i++) await w();
      for (let i = 0; i < 4; i++) await r();
      await cont.close();
    }

    // ------------------------------------------------------------ new-object puts
    for (const qd of [1, 16]) {
      const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd${qd}`;
      const cases = [];
      for (const s of systems) {
        const cont = await s.pool.createContainer(`puts-qd${qd}`, { oclass: PUT_CLASS });
        await cont.openTargets();
        cases.push({ name: `${base} ${s.label}`, fn: newObjectPutter(cont, qd), unitsPerCall: qd });
      }
      await measure(base, cases, 8000, 'ops', TARGET_PUTS);
    }

    // ------------------------------------------------------------ the floor of a connected put: one RPC round trip
    {
      // An empty commit notice: the cheapest request an engine serves (authenticated, pipelined).
      // Every connected put waits for at least one such round trip (to its slowest participant).
      const rpc = new RpcClient({ address: cluster.engines[0]!.address, secret: cluster.secret });
      try {
        const name = 'rpc round trip qd1 4 engines (floor of a connected put)';
        const call = async () => { await rpc.call(ENGINE_METHODS.txNotice, { commits: [] }); };
        const res = await roundRobin([{ name, fn: meter.wrap(name, 1, true, call), unitsPerCall: 1 }], ctx, { ...budget(2000), label: name });
        meter.stop();
        const r = res.get(name)!;
        const embedded = rows.find((x) => x.name === `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd1 embedded`);
        const embeddedMs = (embedded?.extra?.medianMs as number | undefined) ?? NaN;
        rows.push({ name, suite: 'engines', opsPerSecond: r.perSecond, extra: { medianMs: Number(r.medianMs.toFixed(3)), calls: r.samples, ...meter.perOp(name), bestQd1PutRatio: Number((embeddedMs / r.medianMs).toFixed(3)) } });
      } finally {
        await rpc.close();
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
        // CPU figures per MiB.
        await measure(base, cases, phase === 'write' ? 6000 : 8000, 'bytes', TARGET_IOR, MIB);
      }
      for (const c of conts) await c.close();
    }

    // ------------------------------------------------------------ many clients
    await (await connectedPool.createContainer('clients', { oclass: PUT_CLASS })).close();
    const ms = ctx.quick ? 1500 : 3000;
    const one: Array<{ perSecond: number; cpuMsPerOp: number }> = [], two: Array<{ perSecond: number; cpuMsPerOp: number }> = [];
    for (let round = 0; round < (ctx.quick ? 1 : 3); round++) {
      ctx.progress(`engines: new-object puts from 1 client process (round ${round + 1})`);
      one.push(await clientProcesses(cluster, 1, ms, 16, `one${round}`));
      ctx.progress(`engines: new-object puts from 2 client processes (round ${round + 1})`);
      two.push(await clientProcesses(cluster, 2, ms, 16, `two${round}`));
    }
    const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd16 4 engines`;
    const fig = (xs: typeof one) => ({ rounds: xs.length, perRound: xs.map((x) => Math.round(x.perSecond)).join('/'), cpuMsPerOp: Number(median(xs.map((x) => x.cpuMsPerOp)).toFixed(3)) });
    rows.push({ name: `${base} 1 client process`, suite: 'engines', opsPerSecond: median(one.map((x) => x.perSecond)), extra: fig(one) });
    rows.push({ name: `${base} 2 client processes`, suite: 'engines', opsPerSecond: median(two.map((x) => x.perSecond)), peer: `${base} 1 client process`, targetRatio: TARGET_TWO_CLIENTS, extra: fig(two) });
  } finally {
    await connectedPool.close();
    await embeddedPool.close();
    await cluster.stop();
    removeTempDir(dir);
  }
  return rows;
}
