/**
 * Connected pools against embedded pools of the same shape, in one run: 4 `cairn engine`
 * processes on loopback (2 targets each, pool map in a real etcd) and an embedded pool of 4 nodes
 * x 1 rank x 2 targets, both open at once. Classes are 3 wide (EC_2P1G1, RP_3G1) because 4
 * engines are 4 fault domains. The connected pool's client runs in this process, the embedded
 * pool in a process of its own (bench/engines-embedded.ts): in one process, the embedded pool's
 * background flushes and merges ran inside the connected pool's slices and were counted as its
 * CPU (measured: qd16 connected puts 6x slower and 5x more client CPU than with the client alone).
 * Every child process (the embedded pool, the client processes, the engines) runs the compiled
 * library as this process does (`compiledImport`, bench/cluster.ts): forked with tsx alone, the
 * embedded pool and the client processes ran the TypeScript sources through tsx whenever the
 * suite was started with CAIRN_BENCH_DIST_READY=1 (NODE_OPTIONS then does not carry the loader).
 *
 * Each comparison is timed round-robin (slices of each system in turn, rate from the median call,
 * each call timed in the process that runs it), so load from other processes on a shared machine
 * hits both alike. Rows
 * (each connected row names its embedded twin as peer, with the target of issue 15):
 *
 * - new-object puts of 100 bytes (a fresh object per put): one at a time, and 16 at once;
 * - gets of 100-byte values of existing objects (4,096 written first, read at random): one at a
 *   time, and 16 at once;
 * - 1 MiB array writes and reads (8 in flight, sequential offsets), EC_2P1G1 and RP_3G1; reads
 *   twice: into a fresh buffer per read, and into one reused buffer per transfer in flight
 *   (`reused buffers`, as IOR reads into its transfer buffer; see `arrayIo` for why both);
 * - one RPC round trip to an engine at qd1 (the floor of a connected put's latency) and the qd1
 *   put ratio that floor allows (`bestQd1PutRatio`: embedded put median / round trip median);
 * - etcd writes per 1,000 new-object puts (etcd's own revision counter, which counts every write);
 * - many clients: new-object puts from two client processes against one (target: >= 1.5x),
 *   alternating one and two processes so both see the same load.
 *
 * Every round-robin row also reports its mean call (`meanMs`; connected rows: `meanRatio`, the ratio
 * by mean call, which counts the slow calls the median leaves out) and its CPU time per operation
 * (`cpuMsPerOp`; embedded rows: all of the embedded process's CPU over the round robin, background
 * work included; connected rows: this process's CPU during the connected slices plus all of the
 * engines' CPU over the round robin, from /proc; `engineSliceCpuMsPerOp`: the engines' CPU during
 * the connected slices only): a figure that load from other processes distorts far less than
 * wall-clock rates. The transport of the connected client and engines is the default
 * (raw pipes); `CAIRN_RPC_TRANSPORT=http2` runs the same suite over HTTP/2 for an A/B. Before the measured
 * rows both systems run a short warm-up (the engines' code is optimised by the JIT only once it
 * has run for a while; the embedded pool shares the bench process's warm code). Engines also warm
 * their store code up at start (`warmUp`, src/engine/warm-up.ts): in the short warm-up an engine's
 * targets never flush (about 750 puts each, a flush takes about 3,000), while the embedded pool's
 * 8 targets flush about 24 times in one process, so engine flushes ran unoptimised code (measured:
 * 6-8x the CPU per flushed record).
 *
 * Needs etcd (`node scripts/ensure-etcd.mjs`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { RpcClient, rawReadStats } from '../src/net/rpc.js';
import { ENGINE_METHODS } from '../src/net/protocol.js';
import { Cluster, compiledImport } from './cluster.js';
import { trackChild } from './lib/cleanup.js';
import { newObjectPutter, objectGetter, arrayIo, type EmbeddedRequest, type EmbeddedWorkload } from './engines-embedded.js';
import type { ClientResult, ClientTask } from './lib/engines-client.js';
import { median, type BenchContext, type BenchRow, type RoundRobinResult } from './harness.js';

const MIB = 1024 * 1024;
/** Class of the new-object put rows. */
const PUT_CLASS = 'EC_2P1G1';
const IOR_CLASSES = ['EC_2P1G1', 'RP_3G1'];
const VALUE_BYTES = 100;
/** 1 MiB transfers in flight in the array rows. */
const IOR_DEPTH = 8;
const WORKER = new URL('./lib/engines-client.ts', import.meta.url).pathname;
/** The embedded pool's process. */
const EMBEDDED_CHILD = new URL('./engines-embedded.ts', import.meta.url).pathname;
/** Warm-up of each client process of the many-clients rows before its measured phase: at least this long, and at least CLIENT_WARM_UP_PUTS puts. */
const CLIENT_WARM_UP_MS = 2000;
/**
 * Puts of each client process's warm-up at least. Sized in puts, not time: the code that runs
 * once per batch (a request of several writes) on the engines and the client is optimised by
 * the JIT only after some thousands of batches, and a warm-up of a fixed time gave a slow
 * (loaded) machine fewer of them than a quiet one.
 */
const CLIENT_WARM_UP_PUTS = 10_000;
/** Warm-up of each system before the measured rows (halved in quick runs), at least. */
const WARM_UP_MS = 3000;
/**
 * New-object puts of each system's warm-up at least (the connected pool's at qd16, so about 1,500
 * batches per engine; the embedded pool's the same number of puts): in quick runs the 1.5 s
 * warm-up was too short for the engines' per-batch functions (engine engineer, session 25: optimised
 * 5-10 s into serving, inside the measured rows). The same count for both systems.
 */
const WARM_UP_PUTS = 24_000;
/** Targets of issue 15: connected / embedded, and two client processes / one. */
const TARGET_PUTS = 0.3;
const TARGET_IOR = 0.5;
const TARGET_TWO_CLIENTS = 1.5;
/** Objects the get rows read (written first, in both systems). */
const GET_OBJECTS = 4096;
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

/** CPU milliseconds (user + system) of every process in `pids` so far. */
function pidsCpuMs(pids: readonly number[]): number { return pids.reduce((a, pid) => a + procCpuMs(pid), 0); }

/** The embedded pool's process (bench/engines-embedded.ts), driven over IPC. */
class EmbeddedChild {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; message?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m as unknown as Record<string, unknown>); else w.reject(new Error(`embedded child: ${m.message}`));
    });
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    child.once('exit', (code) => { for (const w of this.waiting.values()) w.reject(new Error(`embedded child exited with ${code}: ${this.stderr}`)); this.waiting.clear(); });
  }

  static start(): EmbeddedChild {
    const child = fork(EMBEDDED_CHILD, [], { execArgv: ['--import', 'tsx', ...compiledImport()], env: { ...process.env, CAIRN_ENGINES_EMBEDDED: '1' }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    trackChild(child);
    return new EmbeddedChild(child);
  }

  get pid(): number { return this.child.pid!; }

  request(m: EmbeddedRequest): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((resolve, reject) => { this.waiting.set(id, { resolve, reject }); this.child.send({ ...m, id }); });
  }

  /** Run case `name` for `ms`; each call's milliseconds, measured in the child (none unless `record`). */
  async slice(name: string, ms: number, record = true, minCalls?: number): Promise<number[]> { return (await this.request({ cmd: 'slice', name, ms, record, ...(minCalls !== undefined ? { minCalls } : {}) })).times as number[]; }
}

/** One case of a round robin: `slice(ms)` runs it for about `ms` and gives each call's milliseconds. */
interface SliceCase { name: string; unitsPerCall: number; connected: boolean; slice: (ms: number) => Promise<number[]> }

/** A case run in this process, as a slice. */
function localSlice(fn: () => Promise<void>): (ms: number) => Promise<number[]> {
  return async (ms) => {
    const times: number[] = [];
    const end = performance.now() + ms;
    do { const a = performance.now(); await fn(); times.push(performance.now() - a); } while (performance.now() < end);
    return times;
  };
}

/**
 * Round-robin results with CPU per unit. `engineSliceCpuMsPerUnit`: the engines' CPU during this
 * case's own slices only (connected cases): background work the slices leave behind (a flush that
 * runs during the embedded slice) is missed, but the embedded slices' idle engines (timers,
 * leases) do not dilute it, so a change on the engines' request path resolves at load 10+.
 */
interface SplitResult extends RoundRobinResult { cpuMsPerUnit: number; clientCpuMsPerUnit: number; engineCpuMsPerUnit: number; engineSliceCpuMsPerUnit: number }

/**
 * The harness's round robin (slices of each case in turn, rate from the median call), for cases
 * that run in different processes. CPU per unit: an embedded case gets all of the embedded
 * process's CPU over the whole run (it does nothing else: its background flushes and merges are
 * its own); a connected case gets this process's CPU during its slices plus all of the engines'
 * CPU over the whole run (engines do nothing else). At most one embedded and one connected case per run.
 */
async function roundRobinSplit(cases: readonly SliceCase[], ctx: BenchContext, opts: { budgetMs: number; sliceMs: number; minRounds: number; label: string }, pids: { embedded: number; engines: number[] }): Promise<Map<string, SplitResult>> {
  const times = new Map(cases.map((c) => [c.name, [] as number[]]));
  const self = new Map(cases.map((c) => [c.name, 0]));
  const engineInSlices = new Map(cases.map((c) => [c.name, 0]));
  for (const c of cases) await c.slice(0); // warm-up: one call each
  const e0 = procCpuMs(pids.embedded), g0 = pidsCpuMs(pids.engines);
  const t0 = performance.now();
  for (let round = 0; round < opts.minRounds || performance.now() - t0 < opts.budgetMs; round++) {
    ctx.progress(`${opts.label} round ${round + 1}`);
    for (const c of cases) {
      const u0 = process.cpuUsage(), s0 = c.connected ? pidsCpuMs(pids.engines) : 0;
      const xs = await c.slice(opts.sliceMs);
      for (const x of xs) times.get(c.name)!.push(x);
      const u = process.cpuUsage(u0);
      self.set(c.name, self.get(c.name)! + (u.user + u.system) / 1000);
      if (c.connected) engineInSlices.set(c.name, engineInSlices.get(c.name)! + pidsCpuMs(pids.engines) - s0);
    }
  }
  const embeddedMs = procCpuMs(pids.embedded) - e0, enginesMs = pidsCpuMs(pids.engines) - g0;
  const out = new Map<string, SplitResult>();
  for (const c of cases) {
    const xs = times.get(c.name)!;
    const medianMs = median(xs);
    const units = xs.length * c.unitsPerCall;
    const client = c.connected ? self.get(c.name)! : embeddedMs, engines = c.connected ? enginesMs : 0;
    out.set(c.name, {
      perSecond: (c.unitsPerCall / medianMs) * 1000, samples: xs.length, medianMs, meanMs: xs.reduce((x, y) => x + y, 0) / xs.length,
      cpuMsPerUnit: (client + engines) / Math.max(1, units), clientCpuMsPerUnit: client / Math.max(1, units), engineCpuMsPerUnit: engines / Math.max(1, units),
      engineSliceCpuMsPerUnit: engineInSlices.get(c.name)! / Math.max(1, units),
    });
  }
  return out;
}

/**
 * Client processes of the many-clients rows, started and warmed up once: `phase(k, ms)` runs the
 * first `k` of them at once for `ms` and gives their total puts per second and the CPU per put
 * (clients + engines). Phases of one and of two processes alternate in the same processes, so
 * they see the same load and the same warm code (a fresh pair of processes per phase measured
 * their start-up and JIT warm-up as much as the pool).
 */
class ClientProcesses {
  private constructor(private readonly cluster: Cluster, private readonly procs: Array<{ child: ChildProcess; waiters: Array<{ resolve: (r: ClientResult) => void; reject: (e: Error) => void }>; failed?: Error }>) {}

  static async start(cluster: Cluster, clients: number, qd: number, tag: string): Promise<ClientProcesses> {
    const procs = Array.from({ length: clients }, (_, i) => {
      const task: ClientTask = { etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret, container: 'clients', prefix: `${tag}-c${i}`, valueBytes: VALUE_BYTES, queueDepth: qd, durationMs: 1000, warmUpMs: CLIENT_WARM_UP_MS, warmUpPuts: CLIENT_WARM_UP_PUTS };
      const child = fork(WORKER, [JSON.stringify(task)], { execArgv: ['--import', 'tsx', ...compiledImport()], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      trackChild(child);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
      const p = { child, waiters: [] as Array<{ resolve: (r: ClientResult) => void; reject: (e: Error) => void }>, failed: undefined as Error | undefined };
      const fail = (e: Error) => { p.failed ??= e; for (const w of p.waiters.splice(0)) w.reject(p.failed); };
      const ready = new Promise<void>((resolve, reject) => {
        child.on('message', (m: ClientResult | { type: string; message?: string }) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'result') p.waiters.shift()?.resolve(m as ClientResult);
          else if (m.type === 'error') { fail(new Error((m as { message?: string }).message)); reject(p.failed); }
        });
        child.once('exit', (code) => { fail(new Error(`client exited with ${code}: ${stderr}`)); reject(p.failed); });
      });
      return { p, ready };
    });
    await Promise.all(procs.map((x) => x.ready));
    return new ClientProcesses(cluster, procs.map((x) => x.p));
  }

  async phase(k: number, ms: number): Promise<{ perSecond: number; cpuMsPerOp: number; clientCpuMsPerOp: number; engineCpuMsPerOp: number }> {
    const pids = this.cluster.engines.flatMap((e) => (e?.child.pid !== undefined ? [e.child.pid] : []));
    const e0 = pidsCpuMs(pids);
    const active = this.procs.slice(0, k);
    const results = await Promise.all(active.map((p) => new Promise<ClientResult>((resolve, reject) => {
      if (p.failed) { reject(p.failed); return; }
      p.waiters.push({ resolve, reject });
      p.child.send({ type: 'go', durationMs: ms });
    })));
    const engineMs = pidsCpuMs(pids) - e0;
    const puts = results.reduce((n, r) => n + r.puts, 0);
    const clientMs = results.reduce((n, r) => n + r.cpuMs, 0), per = Math.max(1, puts);
    // (client and engine CPU per put apart: whether a second client costs more on its side or the engines')
    return { perSecond: results.reduce((n, r) => n + r.puts / r.seconds, 0), cpuMsPerOp: (engineMs + clientMs) / per, clientCpuMsPerOp: clientMs / per, engineCpuMsPerOp: engineMs / per };
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => new Promise<void>((resolve) => {
      if (p.child.exitCode !== null) { resolve(); return; }
      const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
      p.child.once('exit', () => { clearTimeout(t); resolve(); });
      p.child.send({ type: 'stop' });
    })));
  }
}

export default async function enginesBench(ctx: BenchContext): Promise<BenchRow[]> {
  const budget = (ms: number) => ({ budgetMs: ctx.quick ? ms / 4 : ms, sliceMs: ctx.quick ? 150 : 400, minRounds: 3 });
  /** Data file cap per target (sparse): room for every write of the array rows. */
  const dataMiB = 4096;
  const rows: BenchRow[] = [];
  ctx.progress('engines: starting etcd and 4 engines');
  const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: `${dataMiB}M`, warmUp: true });
  const embedded = EmbeddedChild.start();
  const connectedPool = await cluster.connect();
  const enginePids = () => cluster.engines.flatMap((e) => (e?.child.pid !== undefined ? [e.child.pid] : []));
  // (`target` undefined: a row issue 15 sets no target for, shown against its peer only)
  const versus = (r: BenchRow, target: number | undefined): BenchRow => ({ ...r, peer: r.name.replace(' 4 engines', ' embedded'), ...(target !== undefined ? { targetRatio: target } : {}) });
  /** The embedded case and the connected case of one comparison. */
  const pair = async (base: string, container: string, oclass: string, workload: EmbeddedWorkload, connectedFn: () => Promise<void>, unitsPerCall: number): Promise<SliceCase[]> => {
    await embedded.request({ cmd: 'case', name: `${base} embedded`, container, oclass, workload });
    return [
      { name: `${base} embedded`, unitsPerCall, connected: false, slice: (ms) => embedded.slice(`${base} embedded`, ms) },
      { name: `${base} 4 engines`, unitsPerCall, connected: true, slice: localSlice(connectedFn) },
    ];
  };
  /** Round-robin `cases`; rows with rate, median call, CPU per operation (`opUnits` units) and the CPU ratio of connected to embedded. */
  const measure = async (base: string, cases: SliceCase[], budgetMs: number, unit: 'ops' | 'bytes', target: number | undefined, opUnits = 1): Promise<void> => {
    const l0 = { ...rawReadStats };
    const res = await roundRobinSplit(cases, ctx, { ...budget(budgetMs), label: base }, { embedded: embedded.pid, engines: enginePids() });
    const emb = res.get(`${base} embedded`)!;
    // Reads the client located in `engine.locate` batches (link.ts), per request; and bytes it read from engine data files.
    const locateRequests = rawReadStats.locateRequests - l0.locateRequests, locateItems = rawReadStats.locateItems - l0.locateItems;
    const locates = locateRequests > 0 ? { readsPerLocate: Number((locateItems / locateRequests).toFixed(2)) } : {};
    const directMiB = (rawReadStats.directBytes - l0.directBytes) / MIB;
    const perOp = (x: number) => Number((x * opUnits).toFixed(4));
    for (const c of cases) {
      const r = res.get(c.name)!;
      const cpu = { cpuMsPerOp: perOp(r.cpuMsPerUnit), clientCpuMsPerOp: perOp(r.clientCpuMsPerUnit), engineCpuMsPerOp: perOp(r.engineCpuMsPerUnit), ...(c.connected ? { engineSliceCpuMsPerOp: perOp(r.engineSliceCpuMsPerUnit) } : {}) };
      // The rate (and ratio) come from the median call; the mean call counts the slow ones too
      // (an embedded pool's memtable flushes and merges run inside its calls): both ratios are shown.
      const extra: Record<string, unknown> = {
        medianMs: Number(r.medianMs.toFixed(3)), meanMs: Number(r.meanMs.toFixed(3)), calls: r.samples, ...cpu,
        ...(c.connected ? { meanRatio: Number((emb.meanMs / r.meanMs).toFixed(3)), cpuRatio: Number((emb.cpuMsPerUnit / r.cpuMsPerUnit).toFixed(3)), ...locates, ...(directMiB > 0 ? { locatedMiB: Math.round(directMiB) } : {}) } : {}),
      };
      const row: BenchRow = { name: c.name, suite: 'engines', ...(unit === 'ops' ? { opsPerSecond: r.perSecond } : { bytesPerSecond: r.perSecond }), extra };
      rows.push(c.connected ? versus(row, target) : row);
    }
  };
  try {
    await embedded.request({ cmd: 'open', shape: { nodes: 4, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 256 * MIB, dataBytes: dataMiB * MIB } });
    // ------------------------------------------------------------ warm-up (JIT in every process)
    {
      ctx.progress('engines: warm-up');
      const ms = ctx.quick ? WARM_UP_MS / 2 : WARM_UP_MS;
      await embedded.request({ cmd: 'case', name: 'warm-up put', container: 'warm-up', oclass: PUT_CLASS, workload: { kind: 'put', qd: 16, valueBytes: VALUE_BYTES } });
      await embedded.slice('warm-up put', ms, false, WARM_UP_PUTS / 16);
      for (const phase of ['write', 'read'] as const) {
        await embedded.request({ cmd: 'case', name: `warm-up ${phase}`, container: 'warm-up', oclass: PUT_CLASS, workload: { kind: 'ior', phase, depth: IOR_DEPTH } });
        await embedded.slice(`warm-up ${phase}`, ms / 2, false);
      }
      const cont = await connectedPool.createContainer('warm-up', { oclass: PUT_CLASS });
      await cont.openTargets();
      const put = newObjectPutter(cont, 16, VALUE_BYTES);
      const end = performance.now() + ms;
      for (let calls = 0; performance.now() < end || calls < WARM_UP_PUTS / 16; calls++) await put();
      const written = { n: 0 };
      const w = arrayIo(cont, 'write', written, IOR_DEPTH), r = arrayIo(cont, 'read', written, IOR_DEPTH);
      // The bulk paths are warmed for a time too (engines whose bulk paths had no warm-up spent
      // 13-20% of their CPU in TurboFan compiling them while measured: perf, engines probe).
      for (const fn of [w, r]) {
        const stop = performance.now() + ms / 2;
        do await fn(); while (performance.now() < stop);
      }
      await cont.close();
    }

    // ------------------------------------------------------------ new-object puts
    for (const qd of [1, 16]) {
      const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd${qd}`;
      const cont = await connectedPool.createContainer(`puts-qd${qd}`, { oclass: PUT_CLASS });
      await cont.openTargets();
      const cases = await pair(base, `puts-qd${qd}`, PUT_CLASS, { kind: 'put', qd, valueBytes: VALUE_BYTES }, newObjectPutter(cont, qd, VALUE_BYTES), qd);
      await measure(base, cases, 8000, 'ops', TARGET_PUTS);
    }

    // ------------------------------------------------------------ small gets of existing objects
    // (a get "now" of a connected pool may wait for a commit decision: reads of one turn go to an
    // engine batched with each other only, link.ts; CAIRN_RPC_GET_BATCH=0 sends each on its own)
    for (const qd of [1, 16]) {
      const base = `get ${VALUE_BYTES}B ${PUT_CLASS} qd${qd}`;
      const cont = await connectedPool.createContainer(`gets-qd${qd}`, { oclass: PUT_CLASS });
      await cont.openTargets();
      const g = objectGetter(cont, qd, GET_OBJECTS, VALUE_BYTES);
      await g.fill();
      const cases = await pair(base, `gets-qd${qd}`, PUT_CLASS, { kind: 'get', qd, objects: GET_OBJECTS, valueBytes: VALUE_BYTES }, g.get, qd);
      await measure(base, cases, 6000, 'ops', undefined);
      await cont.close();
    }

    // ------------------------------------------------------------ the floor of a connected put: one RPC round trip
    {
      // An empty commit notice: the cheapest request an engine serves (authenticated, pipelined).
      // Every connected put waits for at least one such round trip (to its slowest participant).
      // Through the engine's Unix socket when the client's pool uses it too (same host).
      const localPath = cluster.localPath(0);
      const rpc = new RpcClient({ address: cluster.engines[0]!.address, secret: cluster.secret, ...(localPath ? { localPath } : {}) });
      try {
        const name = 'rpc round trip qd1 4 engines (floor of a connected put)';
        const call = async () => { await rpc.call(ENGINE_METHODS.txNotice, { commits: [] }); };
        const res = await roundRobinSplit([{ name, unitsPerCall: 1, connected: true, slice: localSlice(call) }], ctx, { ...budget(2000), label: name }, { embedded: embedded.pid, engines: enginePids() });
        const r = res.get(name)!;
        const emb = rows.find((x) => x.name === `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd1 embedded`);
        const embeddedMs = (emb?.extra?.medianMs as number | undefined) ?? NaN;
        const f = (x: number) => Number(x.toFixed(4));
        rows.push({ name, suite: 'engines', opsPerSecond: r.perSecond, extra: { medianMs: Number(r.medianMs.toFixed(3)), calls: r.samples, cpuMsPerOp: f(r.cpuMsPerUnit), clientCpuMsPerOp: f(r.clientCpuMsPerUnit), engineCpuMsPerOp: f(r.engineCpuMsPerUnit), bestQd1PutRatio: Number((embeddedMs / r.medianMs).toFixed(3)), socket: rpc.viaLocalSocket ? 'unix' : 'tcp' } });
      } finally {
        await rpc.close();
      }
    }

    // ------------------------------------------------------------ etcd writes per 1,000 new-object puts
    {
      const cont = await connectedPool.createContainer('etcd-count', { oclass: PUT_CLASS });
      await cont.openTargets();
      const put = newObjectPutter(cont, 16, VALUE_BYTES);
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
      const cont = await connectedPool.createContainer(`ior-${oclass}`, { oclass });
      await cont.openTargets();
      const written = { n: 0 };
      for (const phase of ['write', 'read', 'read-reused'] as const) {
        const base = phase === 'read-reused' ? `ior read 1MiB seq ${oclass} qd${IOR_DEPTH} reused buffers` : `ior ${phase} 1MiB seq ${oclass} qd${IOR_DEPTH}`;
        const cases = await pair(base, `ior-${oclass}`, oclass, { kind: 'ior', phase, depth: IOR_DEPTH }, arrayIo(cont, phase, written, IOR_DEPTH), IOR_DEPTH * MIB);
        // CPU figures per MiB.
        await measure(base, cases, phase === 'write' ? 6000 : 8000, 'bytes', TARGET_IOR, MIB);
      }
      await cont.close();
    }

    // ------------------------------------------------------------ many clients
    // Two client processes, warmed up once; phases of one and of both alternate (the ratio is the
    // median of the per-round ratios as well as the ratio of the medians; one round swung 0.1-2.3x).
    await (await connectedPool.createContainer('clients', { oclass: PUT_CLASS })).close();
    const ms = ctx.quick ? 1000 : 2000;
    const rounds = ctx.quick ? 5 : 9;
    type Phase = { perSecond: number; cpuMsPerOp: number; clientCpuMsPerOp: number; engineCpuMsPerOp: number };
    const one: Phase[] = [], two: Phase[] = [];
    ctx.progress('engines: starting 2 client processes');
    const clients = await ClientProcesses.start(cluster, 2, 16, 'mc');
    try {
      for (let round = 0; round < rounds; round++) {
        ctx.progress(`engines: new-object puts from 1 and 2 client processes (round ${round + 1}/${rounds})`);
        // Alternate which comes first, so a load trend favours neither.
        if (round % 2 === 0) { one.push(await clients.phase(1, ms)); two.push(await clients.phase(2, ms)); }
        else { two.push(await clients.phase(2, ms)); one.push(await clients.phase(1, ms)); }
      }
    } finally {
      await clients.stop();
    }
    const base = `new-object put ${VALUE_BYTES}B ${PUT_CLASS} qd16 4 engines`;
    const fig = (xs: typeof one) => ({ rounds: xs.length, perRound: xs.map((x) => Math.round(x.perSecond)).join('/'), cpuMsPerOp: Number(median(xs.map((x) => x.cpuMsPerOp)).toFixed(3)), clientCpuMsPerOp: Number(median(xs.map((x) => x.clientCpuMsPerOp)).toFixed(3)), engineCpuMsPerOp: Number(median(xs.map((x) => x.engineCpuMsPerOp)).toFixed(3)) });
    const paired = two.map((x, i) => x.perSecond / one[i]!.perSecond);
    rows.push({ name: `${base} 1 client process`, suite: 'engines', opsPerSecond: median(one.map((x) => x.perSecond)), extra: fig(one) });
    rows.push({ name: `${base} 2 client processes`, suite: 'engines', opsPerSecond: median(two.map((x) => x.perSecond)), peer: `${base} 1 client process`, targetRatio: TARGET_TWO_CLIENTS, extra: { ...fig(two), medianPairedRatio: Number(median(paired).toFixed(3)), pairedRatios: paired.map((r) => r.toFixed(2)).join('/') } });
  } finally {
    await connectedPool.close();
    await embedded.request({ cmd: 'close' }).catch(() => embedded.child.kill('SIGKILL'));
    await cluster.stop();
  }
  return rows;
}
