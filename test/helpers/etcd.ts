/** A real etcd server for tests: loopback ports, a temporary data directory, killed on exit. */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpDir } from './tmp.js';

/** The etcd binary: $CAIRN_ETCD_BIN, /usr/bin/etcd or the PATH. */
export function etcdBinary(): string | undefined {
  for (const p of [process.env.CAIRN_ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd']) if (p && existsSync(p)) return p;
  try { return execFileSync('which', ['etcd'], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** Start etcd; resolves once it answers on its client URL. */
export async function startEtcd(): Promise<{ url: string; dir: string; pid: number; stop(): Promise<void>; kill(): void }> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd is not installed: run `node scripts/ensure-etcd.mjs` (installs Debian etcd-server as root)');
  const dir = tmpDir('cairn-etcd-');
  const [cp, pp] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${cp}`;
  const peer = `http://127.0.0.1:${pp}`;
  const child = spawn(bin, [
    '--name', 't', '--data-dir', dir,
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `t=${peer}`,
    '--unsafe-no-fsync', '--log-level', 'error', '--logger', 'zap',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { if (err.length < 10_000) err += d; });
  const kill = () => { try { child.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', kill);
  const end = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${err}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > end) { kill(); throw new Error(`etcd did not answer within 15 s: ${err}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, dir, pid: child.pid!, kill,
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => { const t = setTimeout(kill, 3000); child.once('exit', () => { clearTimeout(t); resolve(); }); child.kill('SIGTERM'); });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
