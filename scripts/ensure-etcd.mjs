#!/usr/bin/env node
// Makes sure an etcd server binary exists for the connected-pool tests and benchmarks: when none
// is found and this runs as root with apt-get, installs Debian's etcd-server (without starting a
// service). Never fails the caller: without etcd those tests fail with a message saying so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const found = () => [process.env.CAIRN_ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd'].some((p) => p && existsSync(p))
  || spawnSync('which', ['etcd'], { encoding: 'utf8' }).stdout?.trim();
if (found()) process.exit(0);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('which', ['apt-get'], { encoding: 'utf8' }).status === 0;
if (!isRoot || !hasApt) {
  process.stderr.write('ensure-etcd: etcd not found and cannot install it here (needs root and apt-get); connected-pool tests will fail\n');
  process.exit(0);
}
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'etcd-server'], { env, encoding: 'utf8' });
let r = install();
if (r.status !== 0) {
  spawnSync('apt-get', ['update'], { env, encoding: 'utf8' });
  r = install();
}
if (r.status === 0 && found()) process.stderr.write('ensure-etcd: installed Debian etcd-server for the connected-pool tests\n');
else process.stderr.write(`ensure-etcd: could not install etcd-server:\n${(r.stderr || '').slice(-2000)}\n`);
