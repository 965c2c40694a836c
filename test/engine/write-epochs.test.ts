/**
 * An engine's write epochs against a model: the last write a key conflicts with is the newest
 * write at or below it, or punch of it or of a level above it, or the floor; a container's newest
 * write is the newest of any of its keys. Bounded (entries per engine, dkeys per object, akeys per
 * dkey) the table may only answer higher than the model (forgetting is conservative), never lower;
 * unbounded it answers exactly the model. A doubling of the table moves its keys a few buckets per
 * write, never all at once, and answers exactly throughout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WriteEpochs, WRITE_EPOCH_WAYS, MAX_WRITE_ENTRIES, MOVE_BUCKETS_PER_RECORD } from '../../src/engine/write-epochs.js';

const t = suite('write-epochs');

/** [cont, unit, dkey?, akey?] */
type Key = readonly string[];
interface W { k: Key; e: bigint; punch: boolean }

function model(ws: W[], k: Key, floor: bigint): bigint {
  let max = floor;
  const isPrefix = (a: Key, b: Key) => a.length <= b.length && a.every((x, i) => x === b[i]);
  for (const w of ws) {
    // a write at or below k, or a punch of k or of a level above it (objects and below: levels >= 2)
    if ((isPrefix(k, w.k) || (w.punch && isPrefix(w.k, k))) && w.e > max) max = w.e;
  }
  return max;
}

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => { s = (s * 1664525 + 1013904223) >>> 0; return s % n; };
}

function randomWrites(rnd: (n: number) => number, count: number, width: number): W[] {
  const ws: W[] = [];
  for (let i = 0; i < count; i++) {
    const levels = 2 + rnd(3); // object, dkey or akey
    const k = ['c' + rnd(2), 'u' + rnd(width), 'd' + rnd(width), 'a' + rnd(width)].slice(0, levels);
    ws.push({ k, e: 1000n + BigInt(rnd(5000)), punch: levels < 4 ? true : rnd(8) === 0 });
  }
  return ws;
}

function apply(t: WriteEpochs, ws: W[]): void {
  for (const w of ws) t.record(w.k[0]!, w.k[1]!, w.k[2], w.k[3], w.e, w.punch);
}

function allKeys(width: number): Key[] {
  const out: Key[] = [];
  for (let c = 0; c < 3; c++) for (let u = 0; u < width; u++) {
    out.push([`c${c}`, `u${u}`]);
    for (let d = 0; d < width; d++) {
      out.push([`c${c}`, `u${u}`, `d${d}`]);
      for (let a = 0; a < width; a++) out.push([`c${c}`, `u${u}`, `d${d}`, `a${a}`]);
    }
  }
  return out;
}

const ask = (t: WriteEpochs, k: Key) => t.lastWrite(k[0]!, k[1]!, k[2], k[3]);

t('unbounded, every level answers the model exactly (floor included)', () => {
  for (const seed of [1, 2, 3]) {
    const rnd = rng(seed);
    const ws = randomWrites(rnd, 400, 4);
    const tab = new WriteEpochs(1500n);
    apply(tab, ws);
    for (const k of allKeys(4)) assert.is(ask(tab, k), model(ws, k, 1500n), `seed ${seed} key ${k.join('/')}`);
    for (const c of ['c0', 'c1', 'c2']) {
      const want = ws.filter((w) => w.k[0] === c).reduce((m, w) => (w.e > m ? w.e : m), 1500n);
      assert.is(tab.lastInContainer(c), want, `container ${c}`);
    }
  }
});

t('a new-object put holds three entries; an older write raises nothing', () => {
  const tab = new WriteEpochs(0n);
  tab.record('c', '1', 'd', 'a', 50n, false);
  assert.is(tab.size, 3);
  tab.record('c', '1', 'd', 'a', 40n, false);
  assert.is(ask(tab, ['c', '1', 'd', 'a']), 50n);
  assert.is(ask(tab, ['c', '1', 'd', 'b']), 0n, 'another akey of the same dkey was never written');
  assert.is(ask(tab, ['c', '1', 'e']), 0n);
  assert.is(tab.lastInContainer('c'), 50n);
  assert.is(tab.lastInContainer('other'), 0n);
});

t('bounded: answers are never below the model, and the bound holds', () => {
  for (const seed of [4, 5, 6]) {
    const rnd = rng(seed);
    const ws = randomWrites(rnd, 600, 5);
    const tab = new WriteEpochs(0n, 40);
    apply(tab, ws);
    assert.ok(tab.size <= 40 + 3, `size ${tab.size}`);
    for (const k of allKeys(5)) assert.ok(ask(tab, k) >= model(ws, k, 0n), `seed ${seed} key ${k.join('/')}`);
  }
});

t('many dkeys of one object (akeys of one dkey) stay within the bound and answer at least what was written', () => {
  const bound = 1000;
  const tab = new WriteEpochs(0n, bound);
  const n = 3 * bound;
  for (let i = 0; i < n; i++) tab.record('c', '1', `d${i}`, 'a', BigInt(100 + i), false);
  for (let i = 0; i < n; i++) tab.record('c', '2', 'd', `a${i}`, BigInt(100 + i), false);
  assert.ok(tab.size <= bound, `size ${tab.size}`);
  for (let i = 0; i < n; i += 97) {
    assert.ok(ask(tab, ['c', '1', `d${i}`, 'a']) >= BigInt(100 + i));
    assert.ok(ask(tab, ['c', '1', `d${i}`]) >= BigInt(100 + i));
    assert.ok(ask(tab, ['c', '2', 'd', `a${i}`]) >= BigInt(100 + i));
  }
  assert.is(ask(tab, ['c', '1']), BigInt(100 + n - 1), 'the object, written last, is held exactly');
  assert.is(ask(tab, ['c', '2', 'd']), BigInt(100 + n - 1));
});

t('a key forgotten and written again at an older epoch still answers its newer forgotten write', () => {
  // One bucket: every key competes for its WRITE_EPOCH_WAYS slots.
  const tab = new WriteEpochs(0n, WRITE_EPOCH_WAYS);
  tab.record('c', 'old', undefined, undefined, 900n, false);
  for (let i = 0; i < 4 * WRITE_EPOCH_WAYS; i++) tab.record('c', `u${i}`, undefined, undefined, BigInt(1000 + i), false);
  assert.ok(tab.size <= WRITE_EPOCH_WAYS);
  tab.record('c', 'old', undefined, undefined, 500n, false); // (out of order: an older commit arriving late)
  assert.ok(ask(tab, ['c', 'old']) >= 900n, 'never below a write it was told of');
  assert.ok(ask(tab, ['c', 'never-written', 'd', 'a']) >= 900n, 'a key never written answers what its bucket forgot');
});

t('the table starts small and doubles as keys come, forgetting nothing below its bound', () => {
  const tab = new WriteEpochs(0n);
  const start = tab.tableBytes;
  assert.ok(start <= 64 * 1024, `starts at ${start} bytes`);
  const n = 40_000; // (120,000 entries: several doublings, far below the bound)
  for (let i = 0; i < n; i++) tab.record('c', `u${i}`, `d${i % 7}`, `a${i % 5}`, BigInt(1000 + i), i % 11 === 0);
  assert.is(tab.size, 3 * n);
  // (120,000 keys at most 70% full: 8 MiB; one doubling more, should a run of full buckets ask for it)
  assert.ok(tab.tableBytes > start && tab.tableBytes <= 16 * 1024 * 1024, `grew to ${tab.tableBytes} bytes`);
  for (let i = 0; i < n; i += 13) {
    assert.is(ask(tab, ['c', `u${i}`, `d${i % 7}`, `a${i % 5}`]), BigInt(1000 + i), `akey of u${i}`);
    assert.is(ask(tab, ['c', `u${i}`, `d${i % 7}`]), BigInt(1000 + i));
    assert.is(ask(tab, ['c', `u${i}`]), BigInt(1000 + i));
    assert.is(ask(tab, ['c', `u${i}`, 'other']), 0n, 'a dkey never written (the punches were of akeys)');
  }
  assert.is(ask(tab, ['c', 'never']), 0n);
  assert.ok(MAX_WRITE_ENTRIES >= 1_000_000);
});

t('a table that grows to its bound and past it answers never below the model', () => {
  for (const seed of [7, 8]) {
    const rnd = rng(seed);
    const ws = randomWrites(rnd, 6000, 12);
    const tab = new WriteEpochs(0n, 4096); // (starts at 512 buckets, doubles once, then forgets)
    apply(tab, ws);
    assert.ok(tab.size <= 4096, `size ${tab.size}`);
    for (const k of allKeys(12)) assert.ok(ask(tab, k) >= model(ws, k, 0n), `seed ${seed} key ${k.join('/')}`);
  }
});

t('a doubling moves a few buckets per write, not all at once, and every key answers exactly throughout', () => {
  const tab = new WriteEpochs(0n);
  const truth = new Map<string, bigint>(); // object key -> its newest write (objects only: one key each)
  const rnd = rng(11);
  let doublings = 0, checkedMidMove = 0;
  let bytes = tab.tableBytes, toMove = 0;
  for (let i = 0; i < 60_000; i++) {
    // new objects, and now and then a rewrite of an old one (it may still sit in the old table)
    const u = i % 5 === 4 ? `u${rnd(i)}` : `u${i}`;
    const e = BigInt(1000 + rnd(1_000_000));
    tab.record('c', u, undefined, undefined, e, false);
    if (e > (truth.get(u) ?? 0n)) truth.set(u, e);
    const moving = tab.bucketsToMove;
    if (tab.tableBytes > bytes && moving > 0 && toMove === 0) {
      // a doubling began at this write: the old table is still there, and nearly all of it to move
      doublings++;
      assert.ok(moving >= (tab.tableBytes / 3 / 128) - MOVE_BUCKETS_PER_RECORD, `doubling ${doublings}: ${moving} buckets left to move`);
    } else if (toMove > 0) {
      assert.ok(moving >= toMove - MOVE_BUCKETS_PER_RECORD, `at most ${MOVE_BUCKETS_PER_RECORD} buckets moved by one write (${toMove} -> ${moving})`);
    }
    if (moving > 0 && i % 997 === 0) {
      checkedMidMove++;
      for (const [k, v] of truth) assert.is(ask(tab, ['c', k]), v, `${k} while ${moving} buckets are left to move`);
    }
    bytes = tab.tableBytes; toMove = moving;
  }
  assert.ok(doublings >= 3, `doublings seen: ${doublings}`);
  assert.ok(checkedMidMove >= 2, `checked mid-move ${checkedMidMove} times`);
  for (const [k, v] of truth) assert.is(ask(tab, ['c', k]), v, k);
  assert.is(tab.size, truth.size, 'every key held once');
  assert.is(ask(tab, ['c', 'never']), 0n);
});

t('bounded, with doublings under way: answers never below the model', () => {
  for (const seed of [21, 22, 23]) {
    const rnd = rng(seed);
    const ws = randomWrites(rnd, 9000, 14);
    const tab = new WriteEpochs(0n, 8192); // (512 buckets, doubles twice, then forgets)
    for (let i = 0; i < ws.length; i++) {
      apply(tab, [ws[i]!]);
      if (i % 1500 === 0 || (tab.bucketsToMove > 0 && i % 97 === 0)) {
        const seen = ws.slice(0, i + 1);
        for (const k of allKeys(6)) assert.ok(ask(tab, k) >= model(seen, k, 0n), `seed ${seed} write ${i} key ${k.join('/')}`);
      }
    }
    assert.ok(tab.size <= 8192, `size ${tab.size}`);
    for (const k of allKeys(14)) assert.ok(ask(tab, k) >= model(ws, k, 0n), `seed ${seed} key ${k.join('/')}`);
  }
});

t('epochs beyond 64 bits are held as the largest (answers only higher)', () => {
  const tab = new WriteEpochs(0n);
  tab.record('c', '1', 'd', 'a', (1n << 70n), false);
  assert.is(ask(tab, ['c', '1', 'd', 'a']), (1n << 64n) - 1n);
  assert.is(tab.lastInContainer('c'), (1n << 64n) - 1n);
});

t.run();
