/**
 * A real cluster for tests and benchmarks: one etcd and N `cairn engine` processes on loopback,
 * each serving its own target directories. Engines can be SIGKILLed and restarted on the same
 * directories. (Here, not under test/, because benchmarks never import tests.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve as resolvePath } from 'node:path';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { localSocketPath, localSocketsEnabled } from '../src/net/local-socket.js';
import { startEtcd } from './etcd.js';
import { tmpDir } from './tmp-dir.js';
import { Pool } from '../src/index.js'; // the entry: it installs Pool.connect

const root = new URL('..', import.meta.url).pathname;

/** One engine process. */
/** How long a stopped engine may take to exit before it is killed (`Cluster.stop`). */
const ENGINE_STOP_GRACE_MS = 5000;
/** The same when engines write CPU profiles on exit (a loaded engine took more than 5 s to write one). */
const ENGINE_STOP_PROFILING_GRACE_MS = 60_000;
/** How long an engine process may take to start serving (tests run on loaded machines). */
const ENGINE_START_TIMEOUT_MS = 120_000;

export interface EngineProc { index: number; rank: number; address: string; dirs: string[]; child: ChildProcess; log: string[] }

export interface ClusterOptions {
  engines: number;
  targetsPerEngine?: number;
  leaseTtl?: number;
  excludeDelayMs?: number;
  txTimeoutMs?: number;
  scmBytes?: string;
  dataBytes?: string;
  /**
   * Engines warm their store code up before serving (`EngineOptions.warmUp`, through
   * CAIRN_ENGINE_WARM_UP): benchmarks of short runs, so that engine flushes run optimised code as
   * the embedded pool's do (its 8 targets share one process). Default off (tests start faster).
   */
  warmUp?: boolean;
  /** PEM files: engines serve TLS and clients pin `ca`. */
  tls?: { cert: string; key: string; ca: string };
  /** Engines started `--durable` (default: CAIRN_ENGINE_DURABLE=1, so a probe or suite can run both ways). */
  durable?: boolean;
}

/**
 * Engines (and the suite's other child processes: bench/engines.bench.ts forks its embedded pool
 * and its client processes with it) of a benchmark run the library as its client does. A bench started through `npm run
 * bench` passes the compiled package's loader (bench/lib/compiled.mjs) on in NODE_OPTIONS; one
 * started with CAIRN_BENCH_DIST_READY=1 (a worktree whose dist/ is built, RULES.md) does not, and
 * its engines ran the TypeScript sources through tsx (their profiles showed tsx's `__name`
 * helpers). Then the loader is named here for them. Empty when NODE_OPTIONS carries it already,
 * for sources runs (CAIRN_BENCH_SOURCE=1) and for tests (no CAIRN_BENCH_DIST_READY).
 */
export function compiledImport(): string[] {
  const loader = join(root, 'bench/lib/compiled.mjs');
  if (process.env.CAIRN_BENCH_DIST_READY !== '1' || process.env.CAIRN_BENCH_SOURCE === '1' || (process.env.NODE_OPTIONS ?? '').includes('compiled.mjs')) return [];
  return ['--import', loader];
}

/** A running cluster. */
export class Cluster {
  readonly pool = 'p' + randomBytes(4).toString('hex');
  readonly secret = randomBytes(24).toString('base64url');
  engines: Array<EngineProc | undefined> = [];
  private dirsOf: string[][] = [];
  private base = '';

  private constructor(public etcd: Awaited<ReturnType<typeof startEtcd>>, private readonly opts: ClusterOptions) {}

  /** Start etcd and the engines (one at a time, so ranks are 0..N-1 in order). */
  static async start(opts: ClusterOptions): Promise<Cluster> {
    const etcd = await startEtcd();
    const c = new Cluster(etcd, opts);
    process.on('exit', () => { for (const e of c.engines) e?.child.kill('SIGKILL'); });
    c.base = tmpDir('cairn-cluster-');
    for (let i = 0; i < opts.engines; i++) await c.startEngine(i);
    return c;
  }

  get etcdUrl(): string { return this.etcd.url; }

  /**
   * Start (or restart, on the same directories) engine `i`; resolves once it serves. An index
   * never started before gets fresh directories: the engine joins the pool as a new rank.
   */
  async startEngine(i: number): Promise<EngineProc> {
    const o = this.opts;
    this.dirsOf[i] ??= Array.from({ length: o.targetsPerEngine ?? 2 }, (_, t) => join(this.base, `e${i}`, `t${t}`));
    // CAIRN_ENGINE_NODE_ARGS: extra node flags for engine processes (e.g. --cpu-prof for profiling).
    const nodeArgs = (process.env.CAIRN_ENGINE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = [...nodeArgs, '--import', 'tsx', ...compiledImport(), join(root, 'bench/cairn-cli.ts'), 'engine',
      '--pool', this.pool, '--etcd', this.etcd.url, '--listen', '127.0.0.1:0',
      '--targets', ...this.dirsOf[i]!,
      '--lease-ttl', String(o.leaseTtl ?? 2), '--exclude-delay', String(o.excludeDelayMs ?? 500),
      '--tx-timeout', String(o.txTimeoutMs ?? 3000),
      '--scm-bytes', o.scmBytes ?? '16M', '--data-bytes', o.dataBytes ?? '256M',
      ...(o.tls ? ['--tls-cert', o.tls.cert, '--tls-key', o.tls.key, '--tls-ca', o.tls.ca] : []),
      ...((o.durable ?? process.env.CAIRN_ENGINE_DURABLE === '1') ? ['--durable'] : [])];
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, CAIRN_POOL_SECRET: this.secret, ...(o.warmUp !== undefined ? { CAIRN_ENGINE_WARM_UP: o.warmUp ? '1' : '0' } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    child.stderr!.on('data', (d) => { log.push(String(d)); if (process.env.CAIRN_TEST_VERBOSE) process.stderr.write(`[e${i}] ${d}`); });
    const proc = await new Promise<EngineProc>((resolve, reject) => {
      let out = '';
      // (an engine compiles the sources with tsx at start: on a loaded 2-core machine that took over 30 s)
      const timer = setTimeout(() => reject(new Error(`engine ${i} did not start in ${ENGINE_START_TIMEOUT_MS / 1000} s:\n${log.join('')}`)), ENGINE_START_TIMEOUT_MS);
      // CAIRN_ENGINE_STDOUT=DIR: each engine's standard output also goes to DIR/engine-<i>.log (e.g. --trace-gc).
      const logDir = process.env.CAIRN_ENGINE_STDOUT;
      if (logDir) child.stdout!.on('data', (d) => appendFileSync(join(logDir, `engine-${i}.log`), d));
      child.stdout!.on('data', (d) => {
        out = (out + String(d)).slice(-4096);
        const m = /engine rank (\d+) listening on (\S+) targets/.exec(out);
        if (m) { clearTimeout(timer); resolve({ index: i, rank: Number(m[1]), address: m[2]!, dirs: this.dirsOf[i]!, child, log }); }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`engine ${i} exited with ${code}:\n${log.join('')}`)); });
    });
    child.removeAllListeners('exit');
    this.engines[i] = proc;
    return proc;
  }

  /** SIGKILL engine `i` and wait until the process is gone. */
  async kill(i: number): Promise<void> {
    const e = this.engines[i];
    if (!e) return;
    await new Promise<void>((resolve) => { e.child.once('exit', () => resolve()); e.child.kill('SIGKILL'); });
    this.engines[i] = undefined;
  }

  /** Stop etcd for `ms` (keeping its data), then start it again on the same port. */
  async etcdOutage(ms: number): Promise<void> {
    const { dir, port, peerPort } = this.etcd;
    await this.etcd.stop({ keepDir: true });
    await new Promise((r) => setTimeout(r, ms));
    this.etcd = await startEtcd({ dir, port, peerPort });
  }

  /** A client of the pool (`now`: the clock its epochs follow, default the wall clock). */
  connect(secret = this.secret, opts: { tls?: boolean; now?: () => number } = {}): Promise<Pool> {
    const tls = opts.tls ?? this.opts.tls !== undefined;
    return Pool.connect({ etcd: this.etcd.url, pool: this.pool, secret, ...(tls && this.opts.tls ? { tls: { ca: readFileSync(this.opts.tls.ca) } } : {}), ...(opts.now ? { now: opts.now } : {}) });
  }

  /** Stop every engine (SIGTERM, then SIGKILL) and etcd. */
  async stop(): Promise<void> {
    await Promise.all(this.engines.map(async (e) => {
      if (!e) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => e.child.kill('SIGKILL'), this.stopGraceMs());
        e.child.once('exit', () => { clearTimeout(t); resolve(); });
        e.child.kill('SIGTERM');
      });
    }));
    this.engines = [];
    // An engine killed (SIGKILL) leaves its Unix socket file behind (a restart would replace it).
    for (const dirs of this.dirsOf) { const p = dirs?.[0] !== undefined ? localSocketPath(resolvePath(dirs[0])) : undefined; if (p) rmSync(p, { force: true }); }
    await this.etcd.stop();
  }

  /**
   * How long a stopped engine may take to exit before it is killed: longer when engines write CPU
   * profiles (CAIRN_ENGINE_NODE_ARGS with --cpu-prof: a loaded engine took more than 5 s to write
   * the profile of a long run, and the kill lost it).
   */
  private stopGraceMs(): number { return (process.env.CAIRN_ENGINE_NODE_ARGS ?? '').includes('--cpu-prof') ? ENGINE_STOP_PROFILING_GRACE_MS : ENGINE_STOP_GRACE_MS; }

  /** The Unix socket engine `i` serves local clients on (src/net/local-socket.ts), unless local sockets are off. */
  localPath(i: number): string | undefined {
    const d = this.dirsOf[i]?.[0];
    return d !== undefined && localSocketsEnabled() && !this.opts.tls ? localSocketPath(resolvePath(d)) : undefined;
  }
}

/** Poll `cond` every 50 ms until true, or throw after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
