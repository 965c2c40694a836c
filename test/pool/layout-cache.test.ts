/**
 * The pool's layout cache (`LayoutCache`): a hit returns the layout kept for that very oid, never
 * another's; a set holds two layouts (a third drops the older); it stays bounded by its slots
 * however many oids pass; `clear` forgets everything; ids that differ only in their high user
 * bits (above bit 64) spread over the sets.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LayoutCache, LAYOUT_CACHE_SLOTS } from '../../src/pool/layout-cache.js';
import type { ObjectLayout } from '../../src/container/runtime.js';
import { parseObjectClass } from '../../placement/classes.js';
import { Rng } from '../../core/rng.js';

const test = suite('pool layout cache');
const cls = parseObjectClass('RP_2G1');
const layout = (oid: bigint, t: number): ObjectLayout & { oid: bigint } => ({ oid, groups: [[t, t + 1]], red: cls, cls });
const oidOf = (rng: Rng) => (1n << 112n) | (BigInt(rng.int(2 ** 32)) << 64n) | (BigInt(rng.int(2 ** 32)) << 32n) | BigInt(rng.int(2 ** 32));

test('a hit is the layout kept for that oid; a miss is undefined', () => {
  const c = new LayoutCache(1024);
  const rng = new Rng(1);
  const oids = Array.from({ length: 200 }, () => oidOf(rng));
  oids.forEach((o, i) => c.set(layout(o, i)));
  let hits = 0;
  oids.forEach((o, i) => { const l = c.get(o); if (l) { hits++; assert.is(l.oid, o); assert.equal(l.groups, [[i, i + 1]]); } });
  assert.ok(hits >= 190, `hits ${hits} of 200 in 1024 slots`);
  assert.is(c.get(oidOf(rng)), undefined);
  c.clear();
  for (const o of oids) assert.is(c.get(o), undefined);
});

test('two layouts per set: a third drops the older; a hit keeps its layout', () => {
  const c = new LayoutCache(2); // one set
  const [a, b, d] = [10n, 20n, 30n];
  c.set(layout(a, 0)); c.set(layout(b, 1));
  assert.is(c.get(a)?.oid, a); // a is now the newer
  c.set(layout(d, 2));         // drops b, the older
  assert.is(c.get(b), undefined);
  assert.is(c.get(a)?.oid, a);
  assert.is(c.get(d)?.oid, d);
  c.set(layout(d, 5));         // replacing keeps one copy
  assert.equal(c.get(d)?.groups, [[5, 6]]);
  assert.is(c.get(a)?.oid, a);
});

test('bounded: many more oids than slots, every hit is right and at most the slot count hit', () => {
  const slots = 256;
  const c = new LayoutCache(slots);
  const rng = new Rng(2);
  const oids = Array.from({ length: 5000 }, () => oidOf(rng));
  oids.forEach((o, i) => c.set(layout(o, i)));
  let hits = 0;
  oids.forEach((o, i) => { const l = c.get(o); if (l) { hits++; assert.is(l.oid, o); assert.equal(l.groups, [[i, i + 1]]); } });
  assert.ok(hits > 0 && hits <= slots, `hits ${hits}`);
  assert.ok(LAYOUT_CACHE_SLOTS >= 2 && (LAYOUT_CACHE_SLOTS & (LAYOUT_CACHE_SLOTS - 1)) === 0);
});

test('ids differing only above bit 64, or only in their low bits, spread over the sets', () => {
  for (const make of [(i: number) => (1n << 112n) | (BigInt(i) << 64n), (i: number) => (1n << 112n) | BigInt(i)]) {
    const c = new LayoutCache(4096);
    for (let i = 0; i < 1000; i++) c.set(layout(make(i), i));
    let hits = 0;
    for (let i = 0; i < 1000; i++) if (c.get(make(i))?.oid === make(i)) hits++;
    assert.ok(hits >= 950, `hits ${hits} of 1000`);
  }
});

test.run();
