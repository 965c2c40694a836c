/**
 * abstract-level's own compliance suite (`abstract-level/test`, tape-based) run against
 * `CairnLevel` on a real embedded pool. The tape harness runs first and its results are collected
 * from its object stream; then every tape test becomes one uvu test that fails when any of its
 * assertions failed (or when it never ended), so the runner's Total/Passed count the suite's tests.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { CairnLevel } from '../../src/level/index.js';
import { tmpDir } from '../helpers/tmp.js';

const require = createRequire(import.meta.url);
const tape = require('tape') as { createHarness(opts?: object): TapeHarness };
const abstractSuite = require('abstract-level/test') as (common: { test: TapeHarness; factory(opts?: object): unknown }) => void;
interface TapeHarness { (...args: unknown[]): void; createStream(opts: { objectMode: true }): NodeJS.ReadableStream }
type Row = { type: 'test'; id: number; name: string } | { type: 'assert'; ok: boolean; test: number; name: string; operator?: string; actual?: unknown; expected?: unknown; error?: { message?: string } } | { type: 'end'; test: number };

const pool = await Pool.create(join(tmpDir('cairn-level-'), 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 64 << 20 });
const cont = await pool.createContainer('level', { oclass: 'RP_2G1' });

const harness = tape.createHarness();
const tests = new Map<number, { name: string; passed: number; failures: string[]; ended: boolean }>();
const stream = harness.createStream({ objectMode: true });
const done = new Promise<void>((resolve) => stream.on('end', () => resolve()));
stream.on('data', (row: Row) => {
  if (row.type === 'test') tests.set(row.id, { name: row.name, passed: 0, failures: [], ended: false });
  else if (row.type === 'assert') {
    const t = tests.get(row.test);
    if (!t) return;
    if (row.ok) t.passed++;
    else t.failures.push(`${row.name}: ${row.operator ?? ''} expected ${JSON.stringify(row.expected)} got ${JSON.stringify(row.actual)} ${row.error?.message ?? ''}`);
  } else if (row.type === 'end') {
    const t = tests.get(row.test);
    if (t) t.ended = true;
  }
});

let n = 0;
abstractSuite({ test: harness, factory: (opts?: object) => new CairnLevel(cont, { object: `db-${n++}`, ...opts }) });
await done;

const t = suite('abstract-level compliance');
const names = new Map<string, number>();
for (const [, r] of tests) {
  const k = (names.get(r.name) ?? 0) + 1;
  names.set(r.name, k);
  t(k > 1 ? `${r.name} (#${k})` : r.name, () => {
    assert.ok(r.ended, 'the tape test ended');
    assert.equal(r.failures, [], r.failures.join('\n'));
  });
}
t('the suite ran (databases made, assertions passed)', () => {
  assert.ok(n > 100, `factory called ${n} times`);
  const asserts = [...tests.values()].reduce((a, x) => a + x.passed, 0);
  assert.ok(asserts > 1000, `${asserts} assertions passed`);
});
t.after(async () => { await pool.close(); });
t.run();
