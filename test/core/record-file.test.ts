/**
 * Record files replaced atomically, several at once in an order that survives a crash
 * (`writeFilesTwiceInOrder`: the pool map, the rebuild state and the stable map are saved so that a
 * later file is never newer than an earlier one): every file and its copy hold the new image, no
 * temporary file is left, a failure renames nothing, and a writer killed with SIGKILL at any moment
 * leaves the files in order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { COPY_SUFFIX, writeFilesTwiceInOrder } from '../../core/record-file.js';
import { tmpDir } from '../helpers/tmp.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const read = (p: string) => readFileSync(p, 'utf8');

test('every file and its copy hold the new image; no temporary file is left', async () => {
  const dir = tmpDir();
  writeFileSync(join(dir, 'x'), 'old');
  await writeFilesTwiceInOrder([{ path: join(dir, 'x'), image: bytes('new x') }, { path: join(dir, 'y'), image: bytes('new y') }]);
  assert.is(read(join(dir, 'x')), 'new x');
  assert.is(read(join(dir, 'x' + COPY_SUFFIX)), 'new x');
  assert.is(read(join(dir, 'y')), 'new y');
  assert.is(read(join(dir, 'y' + COPY_SUFFIX)), 'new y');
  assert.equal(readdirSync(dir).sort(), ['x', 'x' + COPY_SUFFIX, 'y', 'y' + COPY_SUFFIX]);
});

test('a file that cannot be written: nothing is renamed, its error is thrown, the temporaries go', async () => {
  const dir = tmpDir();
  writeFileSync(join(dir, 'x'), 'old');
  const err = await writeFilesTwiceInOrder([
    { path: join(dir, 'x'), image: bytes('new x') },
    { path: join(dir, 'missing-dir', 'y'), image: bytes('new y') },
  ]).then(() => undefined, (e: unknown) => e);
  assert.match(String(err), /ENOENT/);
  assert.is(read(join(dir, 'x')), 'old', 'the earlier file is not replaced either');
  assert.equal(readdirSync(dir), ['x'], 'no temporary file left');
});

test('a writer killed with SIGKILL at random moments leaves the files in order (a later one never newer)', async () => {
  for (let trial = 0; trial < 6; trial++) {
    const dir = tmpDir();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'record-file-child.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    await new Promise((r) => setTimeout(r, 20 + trial * 37));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const round = (n: string) => Number(read(join(dir, n)));
    const [a, b, c] = ['a', 'b', 'c'].map(round) as [number, number, number];
    assert.ok(a >= b && b >= c, `trial ${trial}: rounds a ${a} >= b ${b} >= c ${c}`);
    assert.ok(a - c <= 1, `trial ${trial}: one round in flight at most (a ${a}, c ${c})`);
    for (const n of ['a', 'b', 'c']) {
      const copy = Number(read(join(dir, n + COPY_SUFFIX)));
      assert.ok(copy === round(n) || copy === round(n) - 1, `trial ${trial}: ${n}'s copy ${copy} is its round or the one before`);
    }
  }
});

test.run();
