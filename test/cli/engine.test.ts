/**
 * `cairn engine` argument handling: missing or malformed flags and a missing secret print one line
 * on stderr and exit 2; an unreachable etcd exits 1 with its typed code and leaves nothing behind,
 * as does a listen address another process holds (IO_ERROR naming the address).
 * (Serving is covered by test/engine/*, which run real engines through this command.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { startEtcd } from '../helpers/etcd.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir();

function cairn(args: string[], env: Record<string, string> = {}): { code: number; err: string } {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  if (!('CAIRN_POOL_SECRET' in env)) delete e.CAIRN_POOL_SECRET;
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, 'engine', ...args], { env: e, timeout: 60_000 });
  return { code: r.status ?? -1, err: r.stderr.toString() };
}

const t = suite('cli engine');
const base = ['--pool', 'p', '--etcd', 'http://127.0.0.1:1', '--targets', join(dir, 't0'), '--listen', '127.0.0.1:0'];

t('usage errors exit 2 with one line', () => {
  for (const [args, env, why] of [
    [['--pool', 'p', '--targets', join(dir, 't0'), '--listen', '127.0.0.1:0'], { CAIRN_POOL_SECRET: 'a-long-secret' }, 'no --etcd'],
    [[...base.slice(0, -1), 'nonsense'], { CAIRN_POOL_SECRET: 'a-long-secret' }, 'bad --listen'],
    [base, {}, 'no secret'],
    [[...base, '--lease-ttl', 'zero'], { CAIRN_POOL_SECRET: 'a-long-secret' }, 'bad --lease-ttl'],
    [[...base, '--tls-cert', join(dir, 'x.pem')], { CAIRN_POOL_SECRET: 'a-long-secret' }, 'partial TLS'],
  ] as Array<[string[], Record<string, string>, string]>) {
    const r = cairn(args, env);
    assert.is(r.code, 2, `${why}: exit ${r.code}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, `${why}: one line, got ${r.err}`);
  }
});

t('an unreachable etcd exits 1 with ETCD_UNREACHABLE in one line, leaving no target directory behind', () => {
  const r = cairn(base, { CAIRN_POOL_SECRET: 'a-long-secret' });
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^cairn: ETCD_UNREACHABLE: [^\n]*\n$/);
  assert.equal(readdirSync(dir), []);
});

/** `cairn engine` run asynchronously (etcd runs in this process): exit code and stderr. */
function cairnAsync(args: string[], env: Record<string, string>): Promise<{ code: number; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', entry, 'engine', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', reject);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, err }); });
  });
}

t('a listen address another process holds exits 1 with IO_ERROR naming it in one line, leaving no target directory behind', async () => {
  const etcd = await startEtcd();
  const busy = createServer();
  try {
    await new Promise<void>((resolve, reject) => { busy.once('error', reject); busy.listen(0, '127.0.0.1', () => resolve()); });
    const listen = `127.0.0.1:${(busy.address() as { port: number }).port}`;
    const d = tmpDir();
    const r = await cairnAsync(['--pool', 'p', '--etcd', etcd.url, '--targets', join(d, 't0'), '--listen', listen, '--scm-bytes', '8M', '--data-bytes', '16M'], { CAIRN_POOL_SECRET: 'a-long-secret' });
    assert.is(r.code, 1, r.err);
    // (before: "cairn: IO_ERROR: listen: listen EADDRINUSE: address already in use 127.0.0.1:PORT")
    assert.match(r.err, new RegExp(`^cairn: IO_ERROR: cannot listen on ${listen.replace(/\./g, '\\.')}: the address is already in use \\(EADDRINUSE\\)[^\n]*\n$`));
    assert.equal(readdirSync(d), []);
  } finally {
    busy.close();
    await etcd.stop();
  }
});

t.run();
