#!/usr/bin/env node
// Builds the N-API addons (native/cairn_uring.c -> native/build/Release/cairn_uring.node, native/rebuild.c -> cairn_rebuild.node)
// with node-gyp. Never fails the install: on any problem it prints one line and exits 0, and the
// block device then falls back to pread/pwrite (saying why in `engineReason`).
// node-gyp is taken from npm (npm_config_node_gyp), then node_modules, then npm's bundled copy;
// headers from the local Node installation (<prefix>/include/node) when present, so no download.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const native = join(root, 'native');
const skip = (why) => { console.error(`build:native: io_uring addon not built (${why}); block devices will use pread`); process.exit(0); };

if (process.platform !== 'linux') skip(`platform ${process.platform}`);
if (process.env.CAIRN_SKIP_NATIVE === '1') skip('CAIRN_SKIP_NATIVE=1');

/** Whether an executable `name` is on PATH (or is an absolute path that exists). */
function onPath(name) {
  if (!name) return false;
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return dirs.some((d) => { try { accessSync(d ? join(d, name) : name, constants.X_OK); return true; } catch { return false; } });
}

// What node-gyp needs; checked first so a machine without a toolchain gets a clear reason at once.
const cc = process.env.CC?.split(' ')[0];
if (!(cc ? onPath(cc) : ['cc', 'gcc', 'clang'].some(onPath))) skip(`no C compiler on PATH${cc ? ` (CC=${cc})` : ' (cc, gcc or clang)'}`);
const cxx = process.env.CXX?.split(' ')[0];
if (!(cxx ? onPath(cxx) : ['c++', 'g++', 'clang++'].some(onPath))) skip(`no C++ compiler on PATH${cxx ? ` (CXX=${cxx})` : ' (c++, g++ or clang++; native/output-v8.cc)'}`);
if (!onPath('make')) skip('no make on PATH');
if (!(process.env.PYTHON ? onPath(process.env.PYTHON) : ['python3', 'python'].some(onPath))) skip('no python3 on PATH (node-gyp needs it)');

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
  const lines = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.split('\n');
  const err = lines.find((l) => /\berror:|Error: /.test(l) && !/gyp info/.test(l))
    ?? lines.find((l) => /error/i.test(l) && !/gyp info/.test(l)) ?? r.error?.message ?? `exit ${r.status}`;
  skip(`node-gyp failed: ${err.trim().slice(0, 200)}`);
}

// Smoke test: load it and set up a ring, so a broken build is reported here, not at first use.
try {
  const addon = createRequire(import.meta.url)(join(native, 'build', 'Release', 'cairn_uring.node'));
  const ring = addon.ringCreate(4, new Int32Array(16), () => {});
  addon.ringClose(ring);
  if (!process.env.CI) console.error('build:native: built native/build/Release/cairn_uring.node (io_uring ready)');
} catch (e) {
  console.error(`build:native: addon built but io_uring is unusable here (${String(e.message).split('\n')[0]}); block devices will use pread`);
}
// The rebuild's fused decode step (native/rebuild.c -> cairn_rebuild.node); without it a rebuild runs its grouped path.
try {
  const rebuild = createRequire(import.meta.url)(join(native, 'build', 'Release', 'cairn_rebuild.node'));
  if (typeof rebuild.rebuildStep !== 'function') throw new Error('no rebuildStep export');
} catch (e) {
  console.error(`build:native: rebuild addon unusable (${String(e.message).split('\n')[0]}); rebuild steps will not fuse`);
}
process.exit(0);
