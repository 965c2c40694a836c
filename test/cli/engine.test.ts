/**
 * `cairn engine` argument handling: missing or malformed flags and a missing secret print one line
 * on stderr and exit 2; an unreachable etcd exits 1 with its typed code and leaves nothing behind.
 * (Serving is covered by test/engine/*, which run real engines through this command.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

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

t.run();
