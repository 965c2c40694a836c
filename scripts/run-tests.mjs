#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) in its own process with uvu, sums the per-file uvu
// summaries and ends with the line `N passed, N failed`. A file that crashes or prints no summary
// counts as one failure. Exit code is non-zero when anything failed.
// Usage: node scripts/run-tests.mjs [filter...]   (substring filters on the file path)
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
// The connected-pool tests need an etcd server binary (installed from Debian when missing and root).
spawnSync(process.execPath, [join(root, 'scripts/ensure-etcd.mjs')], { stdio: ['ignore', 'inherit', 'inherit'] });
spawnSync(process.execPath, [join(root, 'scripts/ensure-fuse.mjs')], { stdio: ['ignore', 'inherit', 'inherit'] }); // the FUSE mount tests (dfs)
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.test\.ts$/.test(e)) files.push(p);
  }
})(join(root, 'test'));
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
const jobs = Math.max(1, Number(process.env.CAIRN_TEST_JOBS ?? 2));
const perFileTimeoutMs = Number(process.env.CAIRN_TEST_TIMEOUT_MS ?? 15 * 60 * 1000);

// uvu drops a failing `before` hook's error; this preload reports it (see the file).
const hookErrors = pathToFileURL(join(root, 'scripts/uvu-hook-errors.mjs')).href;

let passed = 0, failed = 0;
const failures = [];

function runOne(file) {
  return new Promise((resolve) => {
    const rel = relative(root, file);
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', hookErrors, file], {
      cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => { out += `\n[timeout after ${perFileTimeoutMs} ms]\n`; child.kill('SIGKILL'); }, perFileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const totals = [...out.matchAll(/Total:\s+(\d+)/g)].map((m) => +m[1]);
      const passes = [...out.matchAll(/Passed:\s+(\d+)/g)].map((m) => +m[1]);
      const total = totals.reduce((a, b) => a + b, 0);
      const ok = passes.reduce((a, b) => a + b, 0);
      let fileFailed = total - ok;
      if (totals.length === 0 || (code !== 0 && fileFailed === 0)) fileFailed += 1;
      passed += ok; failed += fileFailed;
      const mark = fileFailed ? 'FAIL' : 'ok  ';
      process.stdout.write(`${mark} ${rel}  (${ok}/${total}${totals.length ? '' : ', no summary'})  ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      if (fileFailed) failures.push({ rel, out });
      resolve();
    });
  });
}

const queue = [...selected];
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  while (queue.length) await runOne(queue.shift());
}));
for (const f of failures) {
  process.stdout.write(`\n===== ${f.rel} =====\n${f.out.slice(-8000)}\n`);
}
if (selected.length === 0) { console.log('no test files matched'); failed += 1; }
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
