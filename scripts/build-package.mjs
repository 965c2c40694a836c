#!/usr/bin/env node
// What a package needs before it is packed or used from a checkout: the wasm core (`build/*.wasm`,
// AssemblyScript) and the compiled library (`dist/`, TypeScript). Run by `prepare` (a checkout's
// `npm install`, installs from a git URL) and `prepack` (`npm pack`, `npm publish`); consumers
// installing the tarball never run it (they get both prebuilt; their `install` script only tries
// the optional io_uring addon). The inputs (sources, configs, compiler versions) are hashed into
// `dist/.build-hash`, so when both hooks run for one `npm pack` the second one costs nothing.
// Usage: build-package.mjs [--force]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stampFile = join(root, 'dist', '.build-hash');

/** Every input file of the build, in a stable order. */
function inputs() {
  const out = [];
  const walk = (p) => {
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) { for (const e of readdirSync(p).sort()) walk(join(p, e)); return; }
    out.push(p);
  };
  for (const p of ['index.ts', 'core', 'ec', 'placement', 'src', 'assembly', 'tsconfig.json', 'asconfig.json',
    'scripts/build-wasm.mjs', 'scripts/build-ts.mjs', 'scripts/build-package.mjs']) walk(join(root, p));
  return out;
}

function compilerVersions() {
  const req = createRequire(import.meta.url);
  return ['typescript', 'assemblyscript'].map((m) => {
    try { return `${m}@${JSON.parse(readFileSync(req.resolve(`${m}/package.json`), 'utf8')).version}`; } catch { return `${m}@missing`; }
  });
}

function inputHash() {
  const h = createHash('sha256');
  for (const v of compilerVersions()) h.update(v + '\n');
  for (const f of inputs()) { h.update(relative(root, f) + '\0'); h.update(readFileSync(f)); }
  return h.digest('hex');
}

const wasmBuilt = () => existsSync(join(root, 'build')) && readdirSync(join(root, 'assembly')).filter((f) => f.endsWith('.ts'))
  .every((f) => existsSync(join(root, 'build', f.replace(/\.ts$/, '.wasm'))));

const hash = inputHash();
const force = process.argv.includes('--force');
if (!force && wasmBuilt() && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash) {
  if (!process.env.CI) console.error('build: dist/ and build/*.wasm are up to date');
  process.exit(0);
}
for (const step of ['build-wasm.mjs', 'build-ts.mjs']) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', step)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) { console.error(`build: ${step} failed`); process.exit(r.status || 1); }
}
writeFileSync(stampFile, hash + '\n');
