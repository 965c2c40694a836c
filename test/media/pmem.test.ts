/** PmemFile: mapping, persistence across reopen, bounds, and fault injection. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { safe } from '../vos/safe.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PmemFile } from '../../src/media/pmem.js';
import { FaultInjector } from '../../src/media/fault.js';
import { CairnError } from '../../core/errors.js';

const test = suite('pmem');
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-pmem-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function code(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { return (e as CairnError).code; }
  return undefined;
}

test('creates, maps, writes and reads back after reopen', safe(() => {
  const p = path.join(dir, 'a.scm');
  const f = PmemFile.open(p, { size: 64 * 1024 });
  assert.ok(f.created);
  assert.is(f.size, 64 * 1024);
  f.write(100, new Uint8Array([1, 2, 3, 4]));
  f.persist(0, 4096);
  assert.equal(Array.from(f.read(100, 4)), [1, 2, 3, 4]);
  f.close();
  assert.is(code(() => f.write(0, new Uint8Array(1))), 'CLOSED');
  // the bytes are in the file itself
  assert.equal(Array.from(fs.readFileSync(p).subarray(100, 104)), [1, 2, 3, 4]);
  const g = PmemFile.open(p, { size: 128 * 1024 });
  assert.not.ok(g.created);
  assert.is(g.size, 64 * 1024, 'an existing file keeps its size');
  assert.equal(Array.from(g.view.subarray(100, 104)), [1, 2, 3, 4]);
  g.zero(100, 4);
  assert.equal(Array.from(g.read(100, 4)), [0, 0, 0, 0]);
}));

test('rejects bad sizes and out-of-range access', safe(() => {
  assert.is(code(() => PmemFile.open(path.join(dir, 'b'), { size: 1000 })), 'INVALID_ARGUMENT');
  assert.is(code(() => PmemFile.open(path.join(dir, 'b'), { size: 0 })), 'INVALID_ARGUMENT');
  const f = PmemFile.open(path.join(dir, 'c'), { size: 4096 });
  assert.is(code(() => f.write(4090, new Uint8Array(8))), 'INVALID_ARGUMENT');
  assert.is(code(() => f.read(-1, 2)), 'INVALID_ARGUMENT');
  assert.is(code(() => f.persist(0, 8192)), 'INVALID_ARGUMENT');
  fs.writeFileSync(path.join(dir, 'odd'), Buffer.alloc(5000));
  assert.is(code(() => PmemFile.open(path.join(dir, 'odd'), { size: 4096 })), 'CORRUPTED');
  assert.is(code(() => PmemFile.open(path.join(dir, 'missing'), { size: 4096, create: false })), 'IO_ERROR');
}));

test('a torn write lands a whole-store prefix, then fails; later writes fail (crash)', safe(() => {
  const fault = new FaultInjector({ seed: 3, tornWrite: 1 });
  const f = PmemFile.open(path.join(dir, 'd'), { size: 4096, fault });
  const data = new Uint8Array(64).fill(0xab);
  assert.is(code(() => f.write(0, data)), 'IO_ERROR');
  const landed = f.view.subarray(0, 64).filter((x) => x === 0xab).length;
  assert.ok(landed < 64 && landed % 8 === 0, `prefix of whole 8-byte stores (${landed})`);
  assert.is(code(() => f.write(512, data)), 'IO_ERROR');
  assert.is(code(() => f.persist()), 'IO_ERROR');
  assert.ok(fault.crashed);
  assert.is(f.view[512], 0, 'nothing of a write after the crash lands');
}));

test('bit flips on read change only the copy', safe(() => {
  const fault = new FaultInjector({ seed: 9, bitFlipOnRead: 1 });
  const f = PmemFile.open(path.join(dir, 'e'), { size: 4096, fault });
  f.write(0, new Uint8Array(32).fill(7));
  const r = f.read(0, 32);
  assert.is(r.filter((x) => x !== 7).length, 1);
  assert.ok(f.view.subarray(0, 32).every((x) => x === 7));
  assert.ok(fault.stats.bitFlips >= 1);
}));

test('injected ENOSPC is a typed NO_SPACE', safe(() => {
  const fault = new FaultInjector({ seed: 1, enospcAfterBytes: 16 });
  const f = PmemFile.open(path.join(dir, 'g'), { size: 4096, fault });
  f.write(0, new Uint8Array(16));
  assert.is(code(() => f.write(16, new Uint8Array(8))), 'NO_SPACE');
}));

test.run();
