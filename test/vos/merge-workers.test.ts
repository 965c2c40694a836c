/**
 * Merge workers start without the code the process preloads: a `--import` hook (a loader such as
 * tsx, an instrumentation module) runs on the main thread, not again in each worker, whose own
 * modules need none. When the process's other node options cannot be given to a worker
 * explicitly (V8 options), the worker inherits every option, as before, and still starts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { withoutPreloads } from '../../src/vos/merge-workers.js';
import { tmpDir } from './helpers.js';

const test = suite('vos merge workers');
let dir = '';
test.before.each(() => { dir = tmpDir('merge-workers'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('withoutPreloads drops every option that loads code, with its value, and keeps the rest', () => {
  assert.equal(
    withoutPreloads(['--import', 'tsx', '--no-warnings', '--require=./a.cjs', '-r', 'b', '--loader', 'c', '--experimental-loader=d', '--conditions', 'dev', '--import=./e.mjs', '--enable-source-maps']),
    ['--no-warnings', '--conditions', 'dev', '--enable-source-maps'],
  );
  assert.equal(withoutPreloads([]), []);
  assert.equal(withoutPreloads(['--stack-trace-limit=50']), ['--stack-trace-limit=50']);
});

/**
 * Run the child under `extra` plus `--import tsx --import <hook>`, the hook logging the thread it
 * runs on; the child starts a worker on a module file (as merge workers start from the package).
 */
function threadsTheHookRanOn(extra: string[]): { reply: string; threads: number[] } {
  const log = path.join(dir, 'hook.log');
  const hook = path.join(dir, 'hook.mjs');
  const entry = path.join(dir, 'entry.mjs');
  fs.writeFileSync(hook, `import fs from 'node:fs'; import { threadId } from 'node:worker_threads'; fs.appendFileSync(${JSON.stringify(log)}, threadId + '\\n');\n`);
  fs.writeFileSync(entry, `import { parentPort } from 'node:worker_threads'; parentPort.postMessage('up');\n`);
  const child = fileURLToPath(new URL('./merge-workers-child.ts', import.meta.url));
  const env = { ...process.env }; delete env.NODE_OPTIONS;
  const p = spawnSync(process.execPath, [...extra, '--import', 'tsx', '--import', pathToFileURL(hook).href, child, entry], { encoding: 'utf8', env, timeout: 60_000 });
  assert.is(p.status, 0, `child failed: ${p.stderr}`);
  const threads = fs.readFileSync(log, 'utf8').trim().split('\n').map(Number);
  return { reply: p.stdout.trim(), threads };
}

test('a worker started as merge workers are does not run the process\'s --import hooks', () => {
  const r = threadsTheHookRanOn([]);
  assert.is(r.reply, 'up', 'the worker started');
  assert.equal(r.threads, [0], 'the hook ran on the main thread only');
});

test('with a V8 option a worker cannot be given, it inherits every option and still starts', () => {
  const r = threadsTheHookRanOn(['--max-old-space-size=512']);
  assert.is(r.reply, 'up', 'the worker started');
  assert.is(r.threads.length, 2, 'the hook ran twice');
  assert.ok(r.threads.includes(0) && r.threads.some((t) => t > 0), 'on the main thread and, inherited, in the worker');
});

test.run();
