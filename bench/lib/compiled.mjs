// Benchmarks measure the library as users run it: the compiled package (dist/, what `main`,
// `exports` and the `cairn` CLI load), not the TypeScript sources transformed on the fly by tsx
// (whose per-closure name helpers alone cost a fifth of a merge's CPU). Loaded with `--import`
// after tsx: it brings dist/ up to date (scripts/build-package.mjs, a no-op when its input hash
// matches), then resolves every import of the library's sources (index.ts, core/, ec/,
// placement/, src/) to its compiled twin in dist/, so one instance of each module is loaded.
// Child processes the suites start inherit it through NODE_OPTIONS.
// CAIRN_BENCH_SOURCE=1 measures the sources instead.
import { spawnSync } from 'node:child_process';
import { register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
if (process.env.CAIRN_BENCH_SOURCE !== '1') {
  if (process.env.CAIRN_BENCH_DIST_READY !== '1') {
    const r = spawnSync(process.execPath, [`${root}scripts/build-package.mjs`], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CI: '1' } });
    if (r.status !== 0) { console.error('bench: building dist/ failed (CAIRN_BENCH_SOURCE=1 runs the sources)'); process.exit(r.status || 1); }
    process.env.CAIRN_BENCH_DIST_READY = '1';
    const self = `--import=${fileURLToPath(import.meta.url)}`;
    if (!(process.env.NODE_OPTIONS ?? '').includes(self)) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${self}`.trim();
  }
  register('./compiled-hooks.mjs', import.meta.url, { data: { root: pathToFileURL(root).href } });
}
