#!/usr/bin/env node
// Compiles every top-level AssemblyScript entry `assembly/<name>.ts` to `build/<name>.wasm`
// (shared options in asconfig.json: SIMD on, -O3, no asserts, stub runtime). Sub-folders of
// assembly/ hold library code imported by the entries. Each module is written under a temporary
// name and renamed into place, so a process loading build/<name>.wasm meanwhile never reads half
// a file. Usage: build-wasm.mjs [name...]
import { readdirSync, mkdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);
const entries = readdirSync(join(root, 'assembly'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .filter((n) => only.length === 0 || only.includes(n));
mkdirSync(join(root, 'build'), { recursive: true });
let failed = false;
for (const name of entries) {
  const tmp = join('build', `.${name}.${process.pid}.wasm`);
  const { error, stderr } = await asc.main([
    join('assembly', `${name}.ts`),
    // an entry may refine the shared options in assembly/<name>/asconfig.json ("extends" the root one)
    '--config', existsSync(join(root, 'assembly', name, 'asconfig.json')) ? join('assembly', name, 'asconfig.json') : 'asconfig.json',
    '--outFile', tmp,
    '--textFile', join('build', `${name}.wat`),
  ], { stdout: process.stderr, stderr: process.stderr, baseDir: root });
  if (error) { failed = true; rmSync(join(root, tmp), { force: true }); console.error(`asc ${name}: ${error.message}\n${stderr.toString()}`); }
  else renameSync(join(root, tmp), join(root, 'build', `${name}.wasm`));
  if (!error && !process.env.CI) console.error(`built build/${name}.wasm`);
}
process.exit(failed ? 1 : 0);
