#!/usr/bin/env node
// Makes sure an etcd server binary exists for the connected-pool tests and benchmarks.
// Found ($CAIRN_ETCD_BIN, /usr/bin/etcd, /usr/local/bin/etcd, `which etcd`): prints nothing.
// Otherwise, as root with apt-get: installs Debian's etcd-server quietly (retrying once after
// `apt-get update`) with a temporary /usr/sbin/policy-rc.d that forbids starting services, so no
// etcd service is started. Always exits 0: without etcd those tests fail with a message saying so.
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const POLICY = '/usr/sbin/policy-rc.d';

function found() {
  for (const p of [process.env.CAIRN_ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd']) if (p && existsSync(p)) return p;
  const w = spawnSync('which', ['etcd'], { encoding: 'utf8' });
  return (w.status === 0 && w.stdout.trim()) || undefined;
}

function warn(msg) { process.stderr.write(`ensure-etcd: ${msg}\n`); }

if (found()) process.exit(0);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('which', ['apt-get'], { encoding: 'utf8' }).status === 0;
if (!isRoot || !hasApt) {
  warn(`WARNING: no etcd binary and cannot install one here (${!isRoot ? 'not root' : 'no apt-get'}); the connected-pool tests will fail. Install etcd-server (or set CAIRN_ETCD_BIN).`);
  process.exit(0);
}

const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const install = () => run(['install', '-y', '-q', '--no-install-recommends', 'etcd-server']);
const ownPolicy = !existsSync(POLICY);
let log = '';
let r;
try {
  if (ownPolicy) writeFileSync(POLICY, '#!/bin/sh\n# temporary, from cairn scripts/ensure-etcd.mjs: start no services\nexit 101\n', { mode: 0o755 });
  r = install();
  log += `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  if (r.status !== 0) {
    const u = run(['update', '-q']);
    log += `${u.stdout ?? ''}${u.stderr ?? ''}`;
    r = install();
    log += `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  }
} finally {
  if (ownPolicy) rmSync(POLICY, { force: true });
}
const bin = found();
if (r.status === 0 && bin) warn(`installed Debian etcd-server (${bin}) for the connected-pool tests; no service started`);
else warn(`WARNING: could not install etcd-server; the connected-pool tests will fail:\n${log.slice(-3000)}`);
process.exit(0);
