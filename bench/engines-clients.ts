/**
 * Where the time of two client processes goes against one (issue 15 "many clients"), outside the
 * suite: `node --import tsx --import ./bench/lib/compiled.mjs bench/engines-clients.ts [rounds] [ms] [qd]`
 * starts etcd and 4 `cairn engine` processes (2 targets each, warmed up, as the `engines` suite),
 * forks two client processes (bench/lib/engines-client.ts, counting their RPC calls), and runs
 * phases of new-object 100-byte EC_2P1G1 puts from one and from both clients in turn, as the
 * suite's two-client row does. Per phase it prints the rate; CPU per put of the clients and of
 * the engines (main thread, other threads); requests and batch items per put; the cores the
 * clients, the engines and the whole machine used (/proc/stat: other people's load shows there);
 * and the engines' context switches per put. At the end, medians per kind of phase and the paired
 * ratios. `CAIRN_CLIENTS_SOURCE=1`: the client processes run the TypeScript sources through tsx
 * (what the suite's client processes did before they were given the compiled loader).
 * `CAIRN_CLIENT_NODE_ARGS`: node flags for the client processes (e.g. `--cpu-prof --cpu-prof-dir=DIR`),
 * as `CAIRN_ENGINE_NODE_ARGS` for the engines (bench/cluster.ts).
 * Not a suite (no `.bench.ts`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Cluster, compiledImport } from './cluster.js';
import { trackChild } from './lib/cleanup.js';
import { threadsOf } from './lib/thread-stats.js';
import type { ClientResult, ClientTask } from './lib/engines-client.js';

const rounds = Number(process.argv[2] ?? 6);
const phaseMs = Number(process.argv[3] ?? 2000);
const qd = Number(process.argv[4] ?? 16);
const WORKER = new URL('./lib/engines-client.ts', import.meta.url).pathname;
/**
 * Variants of the clients (`CAIRN_CLIENTS_B="NAME=VALUE NAME=VALUE"`: a second pair of client
 * processes with those environment variables; phases of both pairs alternate in one run).
 */
const variants: Array<{ name: string; env: Record<string, string> }> = [{ name: 'A', env: {} }];
if (process.env.CAIRN_CLIENTS_B) variants.push({ name: 'B', env: Object.fromEntries(process.env.CAIRN_CLIENTS_B.split(' ').filter(Boolean).map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)])) });
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

const sum = (pids: number[]) => { const x = threadsOf(pids); return { main: x.main, rest: x.rest, cs: x.vcs + x.ics }; };
/** Busy CPU milliseconds of the whole machine so far (/proc/stat: every core, every process). */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 10; // user nice system irq softirq steal
}

const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: '1024M', warmUp: true });
const procs: Array<{ child: ChildProcess; waiting?: (r: ClientResult) => void }> = [];
try {
  const pool = await cluster.connect();
  await (await pool.createContainer('clients', { oclass: 'EC_2P1G1' })).close();
  await pool.close();
  const loader = process.env.CAIRN_CLIENTS_SOURCE === '1' ? [] : compiledImport();
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < 2 * variants.length; i++) {
    const task: ClientTask = { etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret, container: 'clients', prefix: `c${i}`, valueBytes: 100, queueDepth: qd, durationMs: phaseMs, warmUpMs: 2000, warmUpPuts: 10_000 };
    const child = fork(WORKER, [JSON.stringify(task)], { execArgv: [...(process.env.CAIRN_CLIENT_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', ...loader], env: { ...process.env, CAIRN_PROBE_COUNT: '1', ...variants[i >> 1]!.env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    const p: { child: ChildProcess; waiting?: (r: ClientResult) => void } = { child };
    procs.push(p);
    ready.push(new Promise<void>((resolve, reject) => {
      child.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'result') { const w = p.waiting; p.waiting = undefined; w?.(m as ClientResult); }
        else if (m.type === 'error') reject(new Error(m.message));
      });
    }));
  }
  await Promise.all(ready);
  const enginePids = cluster.engines.map((e) => e!.child.pid!);
  const last = new Map<number, Record<string, number>>();
  type Fig = { v: string; k: number; rate: number; clientCpu: number; engMain: number; engRest: number; reqPerPut: number; itemsPerBatch: number; cores: { clients: number; engines: number; machine: number }; engCsPerPut: number };
  const figs: Fig[] = [];
  const phase = async (v: number, k: number): Promise<Fig> => {
    const e0 = sum(enginePids), m0 = machineBusyMs(), t0 = performance.now();
    const rs = await Promise.all(procs.slice(2 * v, 2 * v + k).map((p) => new Promise<ClientResult>((resolve) => { p.waiting = resolve; p.child.send({ type: 'go', durationMs: phaseMs }); })));
    const wall = performance.now() - t0, e1 = sum(enginePids), m1 = machineBusyMs();
    const puts = rs.reduce((a, r) => a + r.puts, 0);
    let req = 0, batches = 0, items = 0;
    rs.forEach((r, j) => {
      const i = 2 * v + j;
      const s = r.stats ?? {}, prev = last.get(i) ?? {};
      const d = (key: string) => (s[key] ?? 0) - (prev[key] ?? 0);
      for (const key of Object.keys(s)) if (!key.includes('.items') && !key.startsWith('error')) req += d(key);
      batches += d('engine.batch'); items += d('batch.items');
      last.set(i, { ...s });
    });
    const clientMs = rs.reduce((a, r) => a + r.cpuMs, 0);
    const f: Fig = {
      v: variants[v]!.name, k, rate: rs.reduce((a, r) => a + r.puts / r.seconds, 0), clientCpu: clientMs / puts, engMain: (e1.main - e0.main) / puts, engRest: (e1.rest - e0.rest) / puts,
      reqPerPut: req / puts, itemsPerBatch: items / Math.max(1, batches),
      cores: { clients: clientMs / wall, engines: (e1.main + e1.rest - e0.main - e0.rest) / wall, machine: (m1 - m0) / wall }, engCsPerPut: (e1.cs - e0.cs) / puts,
    };
    console.log(`${f.v} ${k} client${k > 1 ? 's' : ' '}: ${f.rate.toFixed(0)}/s; cpu ms/put client ${f.clientCpu.toFixed(3)} engines ${f.engMain.toFixed(3)}+${f.engRest.toFixed(3)} total ${(f.clientCpu + f.engMain + f.engRest).toFixed(3)}; req/put ${f.reqPerPut.toFixed(2)} items/batch ${f.itemsPerBatch.toFixed(1)}; cores clients ${f.cores.clients.toFixed(2)} engines ${f.cores.engines.toFixed(2)} machine ${f.cores.machine.toFixed(2)}; engine cs/put ${f.engCsPerPut.toFixed(2)}`);
    figs.push(f);
    return f;
  };
  const ratios = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < variants.length; j++) {
      const v = (r + j) % variants.length; // (variants in turn, the first of a round alternating)
      if (r % 2 === 0) { const a = await phase(v, 1); const b = await phase(v, 2); ratios[v]!.push(b.rate / a.rate); }
      else { const b = await phase(v, 2); const a = await phase(v, 1); ratios[v]!.push(b.rate / a.rate); }
    }
  }
  for (const [v, { name }] of variants.entries()) for (const k of [1, 2]) {
    const xs = figs.filter((f) => f.k === k && f.v === name);
    console.log(`${name} median ${k}: ${med(xs.map((f) => f.rate)).toFixed(0)}/s; cpu ms/put client ${med(xs.map((f) => f.clientCpu)).toFixed(3)} engines ${med(xs.map((f) => f.engMain + f.engRest)).toFixed(3)} total ${med(xs.map((f) => f.clientCpu + f.engMain + f.engRest)).toFixed(3)}; req/put ${med(xs.map((f) => f.reqPerPut)).toFixed(2)} items/batch ${med(xs.map((f) => f.itemsPerBatch)).toFixed(1)}; cores machine ${med(xs.map((f) => f.cores.machine)).toFixed(2)}`);
  }
  for (const [v, { name }] of variants.entries()) console.log(`${name} paired 2/1 ratios ${ratios[v]!.map((x) => x.toFixed(2)).join(' ')} median ${med(ratios[v]!).toFixed(3)}`);
} finally {
  // (a client that writes a CPU profile on exit needs time: killed after 30 s only)
  await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
    if (p.child.exitCode !== null) { resolve(); return; }
    const t = setTimeout(() => p.child.kill('SIGKILL'), 30_000);
    p.child.once('exit', () => { clearTimeout(t); resolve(); });
    p.child.send({ type: 'stop' });
  })));
  await cluster.stop();
}
