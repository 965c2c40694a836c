/** A real etcd server for tests and benchmarks: loopback ports, a temporary data directory, killed on exit. */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpDir } from './tmp-dir.js';

/** How long `startEtcd` waits for etcd to answer on /health. */
export const ETCD_START_TIMEOUT_MS = 10_000;
/** How long `stop` waits after SIGTERM before SIGKILL. */
export const ETCD_STOP_TIMEOUT_MS = 3_000;
/** Most stderr bytes kept from etcd (for start failure messages). */
const MAX_STDERR = 16 * 1024;

/** A running test etcd. */
export interface TestEtcd {
  /** Client URL, http://127.0.0.1:port. */
  url: string;
  /** Client port (pass it back to `startEtcd` with the same `dir` to restart this etcd). */
  port: number;
  /** Peer port. */
  peerPort: number;
  /** Data directory. */
  dir: string;
  /** Process id of etcd. */
  pid: number;
  /** SIGTERM (SIGKILL after ETCD_STOP_TIMEOUT_MS), then remove the data directory unless `keepDir`. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
  /** SIGKILL at once (the data directory stays). */
  kill(): void;
}

/** The etcd binary: $CAIRN_ETCD_BIN, /usr/bin/etcd, /usr/local/bin/etcd or `which etcd`. */
export function etcdBinary(): string | undefined {
  for (const p of [process.env.CAIRN_ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd']) if (p && existsSync(p)) return p;
  try { return execFileSync('which', ['etcd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined; } catch { return undefined; }
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** `startEtcd`'s options: a data directory and ports to restart a stopped etcd in place; `choosePort` (tests of the retry) in place of `freePort`. */
export interface EtcdStartOptions { dir?: string; port?: number; peerPort?: number; choosePort?: () => Promise<number> }

/** Starts `startEtcd` tries when the ports it chose were taken before etcd bound them. */
const ETCD_START_ATTEMPTS = 3;

/**
 * Start a single-member etcd on loopback; resolves once it answers /health. `dir` (data dir) and
 * ports may be given to restart a stopped one in place. Ports it chooses itself (`freePort`) were
 * free a moment before etcd binds them: another process (a test file running beside this one, or
 * any outgoing connection's ephemeral port) may take one meanwhile, and etcd then exits at once
 * ("address already in use"); it is started again on new ports, up to ETCD_START_ATTEMPTS times.
 */
export async function startEtcd(opts: EtcdStartOptions = {}): Promise<TestEtcd> {
  const chosen = opts.port === undefined && opts.peerPort === undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(opts);
    } catch (err) {
      const taken = /address already in use/i.test(String((err as Error).message));
      if (chosen && taken && attempt < ETCD_START_ATTEMPTS) continue;
      throw err;
    }
  }
}

async function startEtcdOnce(opts: EtcdStartOptions): Promise<TestEtcd> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd is not installed: run `node scripts/ensure-etcd.mjs` (installs Debian etcd-server when run as root), or set CAIRN_ETCD_BIN');
  const dir = opts.dir ?? tmpDir('cairn-etcd-');
  const pick = opts.choosePort ?? freePort;
  const port = opts.port ?? await pick();
  const peerPort = opts.peerPort ?? await pick();
  const url = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(bin, [
    '--name', 't', '--data-dir', dir,
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `t=${peer}`,
    '--unsafe-no-fsync', '--log-level', 'error', '--logger', 'zap',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { if (err.length < MAX_STDERR) err += String(d).slice(0, MAX_STDERR - err.length); });
  const kill = () => { if (child.exitCode === null && child.signalCode === null) try { child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', kill);
  const end = Date.now() + ETCD_START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) { process.off('exit', kill); if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true }); throw new Error(`etcd exited with ${child.exitCode}: ${err}`); }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > end) { kill(); process.off('exit', kill); throw new Error(`etcd did not answer within ${ETCD_START_TIMEOUT_MS} ms: ${err}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, port, peerPort, dir, pid: child.pid!, kill,
    async stop(o: { keepDir?: boolean } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(kill, ETCD_STOP_TIMEOUT_MS);
          child.once('exit', () => { clearTimeout(t); resolve(); });
          child.kill('SIGTERM');
        });
      }
      process.off('exit', kill);
      if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
