#!/usr/bin/env node
// Makes sure FUSE 2 works for the `cairn mount` tests and benchmarks: fuse-native (an optional
// dependency) loads Debian's libfuse.so.2 at run time and unmounts with `fusermount`.
// Found (libfuse.so.2 known to the dynamic linker and fusermount on PATH): prints nothing.
// Otherwise, as root with apt-get: installs Debian's `libfuse2` and `fuse` quietly (retrying once
// after `apt-get update`). Always exits 0: without FUSE the mount tests skip and say why.
import { spawnSync } from 'node:child_process';

const PACKAGES = ['libfuse2', 'fuse'];

function has() {
  const ld = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const lib = ld.status === 0 ? /\blibfuse\.so\.2\b/.test(ld.stdout) : false;
  const fm = spawnSync('which', ['fusermount'], { encoding: 'utf8' }).status === 0;
  return { lib, fm, ok: lib && fm };
}

function warn(msg) { process.stderr.write(`ensure-fuse: ${msg}\n`); }

const before = has();
if (before.ok) process.exit(0);
const missing = `${before.lib ? '' : 'libfuse.so.2 '}${before.fm ? '' : 'fusermount'}`.trim();
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('which', ['apt-get'], { encoding: 'utf8' }).status === 0;
if (!isRoot || !hasApt) {
  warn(`WARNING: ${missing} missing and cannot be installed here (${!isRoot ? 'not root' : 'no apt-get'}); the FUSE mount tests will skip. Install Debian's ${PACKAGES.join(' ')}.`);
  process.exit(0);
}

const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const install = () => run(['install', '-y', '-q', '--no-install-recommends', ...PACKAGES]);
let log = '';
let r = install();
log += `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
if (r.status !== 0) {
  const u = run(['update', '-q']);
  log += `${u.stdout ?? ''}${u.stderr ?? ''}`;
  r = install();
  log += `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
}
const after = has();
if (r.status === 0 && after.ok) warn(`installed Debian ${PACKAGES.join(' ')} for the FUSE mount tests`);
else warn(`WARNING: could not install ${PACKAGES.join(' ')}; the FUSE mount tests will skip:\n${log.slice(-3000)}`);
process.exit(0);
