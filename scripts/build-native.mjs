#!/usr/bin/env node
// Builds the io_uring N-API addon (native/cairn_uring.c -> native/build/Release/cairn_uring.node)
// with node-gyp. Never fails the install: on any problem it prints one line and exits 0, and the
// block device then falls back to pread/pwrite (saying why in `engineReason`).
// node-gyp is taken from npm (npm_config_node_gyp), then node_modules, then npm's bundled copy;
// headers from the local Node installation (<prefix>/include/node) when present, so no download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const native = join(root, 'native');
const skip = (why) => { console.log(`build:native: io_uring addon not built (${why}); block devices will use pread`); process.exit(0); };

if (process.platform !== 'linux') skip(`platform ${process.platform}`);
if (process.env.CAIRN_SKIP_NATIVE === '1') skip('CAIRN_SKIP_NATIVE=1');

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try { candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')); } catch { /* not installed */ }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) skip('node-gyp not found');
const args = [gyp, 'rebuild', '--directory', native];
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 180_000 });
if (r.status !== 0) {
  const err = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.split('\n').find((l) => /error/i.test(l) && !/gyp info/.test(l)) ?? r.error?.message ?? `exit ${r.status}`;
  skip(`node-gyp failed: ${err.trim().slice(0, 200)}`);
}

// Smoke test: load it and set up a ring, so a broken build is reported here, not at first use.
try {
  const addon = createRequire(import.meta.url)(join(native, 'build', 'Release', 'cairn_uring.node'));
  const ring = addon.ringCreate(4, new Int32Array(16), () => {});
  addon.ringClose(ring);
  if (!process.env.CI) console.log('build:native: built native/build/Release/cairn_uring.node (io_uring ready)');
} catch (e) {
  console.log(`build:native: addon built but io_uring is unusable here (${String(e.message).split('\n')[0]}); block devices will use pread`);
}
process.exit(0);
