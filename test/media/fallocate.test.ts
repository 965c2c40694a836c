/**
 * The addon's fallocate, which a pmem file grows with: it reserves real blocks for the range
 * (extending the file, reading back zeros) and answers an errno instead of throwing, so the
 * caller maps ENOSPC to NO_SPACE and falls back to zero writes where the filesystem cannot.
 * A grown PmemSpace is backed by blocks over its whole size either way.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeAddon } from '../../src/media/io-uring.js';
import { PmemSpace } from '../../src/media/pmem-space.js';

const test = suite('fallocate');
const MiB = 1024 * 1024;
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-falloc-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('reserves real blocks, extends the file, reads back zeros; errors come back as errno numbers', () => {
  const fa = nativeAddon()?.fallocate;
  if (!fa) { console.log('SKIPPED (fallocate): the native addon is not built here'); return; }
  const f = path.join(dir, 'f.bin');
  const fd = fs.openSync(f, 'w+');
  try {
    fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
    assert.is(fa(fd, MiB, 3 * MiB), 0);
    const st = fs.fstatSync(fd);
    assert.is(st.size, 4 * MiB, 'extended to offset + length');
    assert.ok(st.blocks * 512 >= 3 * MiB, `blocks reserved (${st.blocks * 512} bytes)`);
    const b = Buffer.alloc(MiB, 1);
    fs.readSync(fd, b, 0, MiB, 2 * MiB);
    assert.ok(b.every((x) => x === 0), 'zeros');
    assert.is(fs.readFileSync(f).subarray(0, 4).toString(), 'head', 'bytes before the range kept');
  } finally { fs.closeSync(fd); }
  const ro = fs.openSync(f, 'r');
  try { assert.is(fa(ro, 0, 4096), os.constants.errno.EBADF, 'a read-only descriptor: EBADF, not a throw'); } finally { fs.closeSync(ro); }
  assert.throws(() => fa(-1, 0, 10), /fallocate/);
  assert.throws(() => fa(3, -1, 10), /fallocate/);
  assert.throws(() => fa(3, 0, 0), /fallocate/);
});

test('a pmem space grown by segments is backed by blocks over its whole size', () => {
  const f = path.join(dir, 'p.scm');
  const s = PmemSpace.open(f, { segmentBytes: MiB, initialBytes: MiB, maxBytes: 8 * MiB, create: true });
  try {
    s.grow(5 * MiB);
    assert.is(s.size, 5 * MiB);
    const st = fs.statSync(f);
    assert.is(st.size, 5 * MiB);
    assert.ok(st.blocks * 512 >= 5 * MiB, `every segment allocated (${st.blocks * 512} bytes)`);
    s.write(4 * MiB + 10, new Uint8Array([1, 2, 3]));
    assert.equal([...s.read(4 * MiB + 9, 5)], [0, 1, 2, 3, 0]);
  } finally { s.close(); }
});

test.run();
