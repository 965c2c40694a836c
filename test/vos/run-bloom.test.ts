/**
 * Run bloom filters (`Run.mayContain`, the verified bits of every bloom block kept side by side):
 * a key the run holds is never "absent"; absent keys are mostly filtered (the design rate is ~1%
 * at 10 bits per key and 6 probes); a damaged bloom block is never trusted: the keys it covers
 * answer "maybe" while the run's other blocks still filter, and the block's own check reports
 * CORRUPTED.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Run, RunWriter, VerifiedBlocks, bloomProbe, BLOCK_HEADER, type RunSpace } from '../../src/vos/run.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { CairnError } from '../../core/errors.js';
import { memSpace } from './helpers.js';

const test = suite('vos run bloom');
test.before(async () => { await initXxhash(); });


/** `n` unique sorted 24-byte keys. */
function keys(rng: Rng, n: number): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  while (seen.size < n) {
    const k = new Uint8Array(24);
    for (let i = 0; i < k.length; i++) k[i] = rng.int(256);
    seen.set(Buffer.from(k).toString('hex'), k);
  }
  return [...seen.values()].sort((a, b) => Buffer.compare(a, b));
}

const HELD = keys(new Rng(7), 12_000);
const heldHex = new Set(HELD.map((k) => Buffer.from(k).toString('hex')));
const ABSENT = keys(new Rng(99), 12_000).filter((k) => !heldHex.has(Buffer.from(k).toString('hex')));

function build() {
  const space = memSpace(16 * 1024 * 1024);
  const w = new RunWriter(space, space, 1, 0);
  HELD.forEach((k, i) => w.add(k, new Uint8Array(8).fill(i & 0xff), i + 1, [bloomProbe(k)]));
  const meta = w.finish()!;
  return { space, meta };
}

test('every key held is "maybe"; absent keys are filtered at about the design rate', () => {
  const { space, meta } = build();
  assert.ok(meta.bloom.length >= 3, `several bloom blocks (${meta.bloom.length})`);
  const run = new Run(space, meta, new VerifiedBlocks(1 << 20));
  for (const k of HELD) assert.ok(run.mayContain(bloomProbe(k)), `held key ${Buffer.from(k).toString('hex')} said absent`);
  let fp = 0;
  for (const k of ABSENT) if (run.mayContain(bloomProbe(k))) fp++;
  assert.ok(fp / ABSENT.length < 0.02, `false positive rate ${fp / ABSENT.length}`);
});

test('a damaged bloom block answers "maybe" for the keys it covers, the others still filter, and its check is CORRUPTED', () => {
  const { space, meta } = build();
  const r = meta.bloom[1]!;
  // clear the block's bits: trusted, it would call held keys absent
  space.buf.fill(0, r.off + BLOCK_HEADER, r.off + r.len - 8);
  const run = new Run(space, meta, new VerifiedBlocks(1 << 20));
  for (const k of HELD) assert.ok(run.mayContain(bloomProbe(k)), 'a held key said absent under a damaged block');
  const nb = meta.bloom.length;
  let inBad = 0, inBadMaybe = 0, elsewhere = 0, elsewhereMaybe = 0;
  for (const k of ABSENT) {
    const p = bloomProbe(k);
    const m = run.mayContain(p);
    if ((p.h1 >>> 0) % nb === 1) { inBad++; if (m) inBadMaybe++; } else { elsewhere++; if (m) elsewhereMaybe++; }
  }
  assert.ok(inBad > 100 && inBadMaybe === inBad, `keys of the damaged block: ${inBadMaybe}/${inBad} maybe`);
  assert.ok(elsewhereMaybe / elsewhere < 0.02, `other blocks still filter: ${elsewhereMaybe}/${elsewhere}`);
  const b = [...run.blocks()].find((x) => x.ref.off === r.off)!;
  try { run.block(b.ref, b.kind, b.damage); assert.unreachable('damaged bloom block verified'); } catch (e) { assert.instance(e, CairnError); assert.is((e as CairnError).code, 'CORRUPTED'); }
});

test('a run whose bloom blocks cannot be read at all answers "maybe" for every key', () => {
  const { space, meta } = build();
  for (const r of meta.bloom) space.buf[r.off] ^= 0xff; // every block's magic
  const run = new Run(space, meta, new VerifiedBlocks(1 << 20));
  for (const k of ABSENT.slice(0, 2000)) assert.ok(run.mayContain(bloomProbe(k)));
});

test.run();
