/**
 * Run seeks (`RunCursor.seek` / `seekBefore`, `Run.seekTo` with a key prefix) against a brute-force
 * search of the sorted keys, on runs of many data and index blocks whose keys are hard for the
 * in-place comparisons: long shared prefixes, zero bytes, keys that are prefixes of others, empty
 * and very short keys (the key windows pad with zeros), probes present, absent and past the ends.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Run, RunWriter, RunPoint, VerifiedBlocks, type RunSpace } from '../../src/vos/run.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { memSpace } from './helpers.js';

const test = suite('vos run seeks');
test.before(async () => { await initXxhash(); });

/** A run space in memory (what the store reads through pread). */

function cmp(a: Uint8Array, b: Uint8Array): number { return Buffer.compare(a, b); }

/** Random keys over a small alphabet with a long shared head (sorted, unique). */
function keys(rng: Rng, n: number): Uint8Array[] {
  const alphabet = [0, 1, 2, 0x7f, 0xff];
  const head = new Uint8Array(rng.int(20)).fill(9);
  const seen = new Map<string, Uint8Array>();
  while (seen.size < n) {
    const len = rng.int(14);
    const k = new Uint8Array(head.length + len);
    k.set(head);
    for (let i = 0; i < len; i++) k[head.length + i] = alphabet[rng.int(alphabet.length)]!;
    seen.set(Buffer.from(k).toString('hex'), k);
  }
  return [...seen.values()].sort(cmp);
}

function buildRun(ks: Uint8Array[]): Run {
  const space = memSpace(64 * 1024 * 1024);
  const w = new RunWriter(space, space, 1, 0);
  ks.forEach((k, i) => w.add(k, new Uint8Array(8 + (i % 40)).fill(i & 0xff), i + 1, []));
  const meta = w.finish()!;
  return new Run(space, meta, new VerifiedBlocks(1 << 20)); // a cache smaller than the run: blocks are evicted and re-read
}

/** First index with key >= k (brute force). */
function lower(ks: Uint8Array[], k: Uint8Array): number { let i = 0; while (i < ks.length && cmp(ks[i]!, k) < 0) i++; return i; }

test('seek, seekBefore and a prefix seek land where a brute-force search does', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const ks = keys(rng, 6000 + seed * 3000);
    const run = buildRun(ks);
    assert.ok(run.meta.index.length > 1 || seed === 1, `several index blocks (${run.meta.index.length})`);
    const point = new RunPoint();
    const probes: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])];
    for (let i = 0; i < 1500; i++) {
      const base = ks[rng.int(ks.length)]!;
      const r = rng.int(4);
      if (r === 0) probes.push(base);
      else if (r === 1) probes.push(base.subarray(0, rng.int(base.length + 1)));
      else { const p = base.slice(); if (p.length) p[rng.int(p.length)] = [0, 1, 3, 0x80, 0xfe][rng.int(5)]!; probes.push(r === 3 ? Uint8Array.from([...p, rng.int(256)]) : p); }
    }
    for (const k of probes) {
      const want = lower(ks, k);
      const c = run.cursor().seek(k);
      assert.is(c.valid, want < ks.length, `valid for ${Buffer.from(k).toString('hex')}`);
      if (want < ks.length) assert.equal(c.key(), ks[want], `seek ${Buffer.from(k).toString('hex')}`);
      const b = run.cursor().seekBefore(k);
      assert.is(b.valid, want > 0);
      if (want > 0) assert.equal(b.key(), ks[want - 1], `seekBefore ${Buffer.from(k).toString('hex')}`);
      // a seek by the first n bytes of a longer buffer (the point lookup's reused key builder)
      const padded = new Uint8Array(k.length + 5).fill(0xee); padded.set(k);
      const found = run.seekTo(padded, k.length, point);
      assert.is(found, want < ks.length);
      if (found) {
        const blk = point.blk!; const o = blk.keyOffset(point.e);
        assert.equal(blk.bytes.subarray(o, o + blk.keyLength(point.e)), ks[want]);
      }
    }
  }
});

test.run();
