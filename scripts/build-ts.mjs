#!/usr/bin/env node
// Compiles the library (tsconfig.json: index.ts, core, ec, placement, src) into `dist/`.
// tsc writes into a fresh sibling directory which then replaces `dist/` by two renames, so
// `dist/` never holds files of modules that were moved or deleted since the last build, and a
// failed build leaves the previous `dist/` in place. Exit code: tsc's.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const fresh = join(root, `dist.tmp-${process.pid}`);
const old = join(root, `dist.old-${process.pid}`);

let tsc;
try { tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc'); } catch {
  console.error('build:ts: typescript is not installed (it is a devDependency: run `npm install` in the repository)');
  process.exit(1);
}
rmSync(fresh, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', fresh], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(fresh, { recursive: true, force: true });
  console.error(`build:ts: tsc failed (exit ${r.status ?? r.signal}); dist/ left as it was`);
  process.exit(r.status || 1);
}
if (existsSync(dist)) renameSync(dist, old);
renameSync(fresh, dist);
rmSync(old, { recursive: true, force: true });
if (!process.env.CI) console.error('build:ts: compiled dist/');
