/**
 * The test runner's uvu guard (scripts/uvu-hook-errors.mjs): a suite whose `before` hook fails
 * reports that hook's error, fails its file, and runs none of its tests; a suite whose hooks pass
 * runs as before.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const guard = pathToFileURL(path.join(root, 'scripts/uvu-hook-errors.mjs')).href;

/** Runs a suite file written under the project (so it resolves uvu from its node_modules). */
function runSuite(body: string, withGuard: boolean): { status: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(root, 'test/scripts/.fixture-'));
  try {
    const file = path.join(dir, 'suite.mjs');
    fs.writeFileSync(file, `import { suite } from 'uvu';\nimport * as assert from 'uvu/assert';\n${body}\n`);
    const args = withGuard ? ['--import', guard, file] : [file];
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: 60_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const FAILING_BEFORE = `
const s = suite('engines');
let ran = 0;
s.before(async () => { throw new Error('engine 2 did not start: port 40123 in use'); });
s('reads', () => { ran++; assert.ok(true); });
s('writes', () => { ran++; assert.ok(true); });
s.run();
process.on('exit', () => console.log('tests ran: ' + ran));
`;

test('a failing before hook is reported with its message, fails the file and runs no test', () => {
  const r = runSuite(FAILING_BEFORE, true);
  assert.match(r.out, 'engine 2 did not start: port 40123 in use');
  assert.match(r.out, 'before hook');
  assert.match(r.out, /Total:\s+2/);
  assert.match(r.out, /Passed:\s+0/);
  assert.match(r.out, 'tests ran: 0');
  assert.is(r.status, 1);
});

test('without the guard, uvu drops that error (why the runner preloads it)', () => {
  const r = runSuite(FAILING_BEFORE, false);
  assert.not.match(r.out, 'engine 2 did not start');
  assert.match(r.out, /Passed:\s+0/);
  assert.is(r.status, 0);
});

test('a thrown non-Error is reported too', () => {
  const r = runSuite(`
const s = suite('odd');
s.before(() => { throw 'etcd unreachable'; });
s('one', () => assert.ok(true));
s.run();
`, true);
  assert.match(r.out, 'etcd unreachable');
  assert.is(r.status, 1);
});

test('suites whose hooks pass run and count as before', () => {
  const r = runSuite(`
const s = suite('fine');
let opened = false;
s.before(() => { opened = true; });
s('sees the hook', () => assert.ok(opened));
s('fails on its own', () => assert.is(1, 2));
s.run();
`, true);
  assert.match(r.out, /Total:\s+2/);
  assert.match(r.out, /Passed:\s+1/);
  assert.match(r.out, 'fails on its own');
  assert.is(r.status, 1);
});

test.run();
