/**
 * The commit epoch clock (`EpochClock`): every epoch is strictly above the ones before and the
 * ones observed, follows the physical clock (its millisecond in the high bits), carries the
 * clock's slot, and rejects a bad physical time. Checked against a model computed from first
 * principles for clocks that stall, step back and jump (the clock keeps the last millisecond's
 * epoch: a stale one would show here).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EpochClock, epochAtMs, HLC_LOGICAL_BITS, MAX_CLOCK_SLOTS } from '../../src/container/epoch-clock.js';

const t = suite('epoch-clock');

/** The epoch a clock last at `last` hands out at physical time `ms` with optional `slot` (the model). */
function model(last: bigint, ms: number, slot?: number): bigint {
  const physical = BigInt(Math.floor(ms)) << HLC_LOGICAL_BITS;
  let e = physical > last ? physical : last + 1n;
  if (slot !== undefined) {
    const span = BigInt(MAX_CLOCK_SLOTS);
    const s = BigInt(slot);
    const base = e - (e % span);
    e = base + s >= e ? base + s : base + span + s;
  }
  return e;
}

/** A deterministic sequence of physical times: runs within a millisecond, stalls, steps back, jumps, fractions. */
function times(n: number, seed: number): number[] {
  let x = seed >>> 0, ms = 1_700_000_000_000;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = x >>> 24;
    if (r < 150) { /* same millisecond */ } else if (r < 200) ms += 1; else if (r < 215) ms -= 1 + (r & 3); else if (r < 235) ms += 0.25; else ms += 1000 + r;
    out.push(ms);
  }
  return out;
}

for (const slot of [undefined, 0, 7, MAX_CLOCK_SLOTS - 1]) {
  t(`epochs match the model, strictly increase and carry the slot (slot ${slot})`, () => {
    const ts = times(20_000, 17 + (slot ?? 99));
    let i = 0;
    const floor = 5n;
    const clock = new EpochClock(floor, () => ts[i]!, slot);
    let last = floor;
    for (; i < ts.length; i++) {
      if (i % 997 === 0) { const o = last + 3n; clock.observe(o); last = o; } // observed epochs are passed too
      const e = clock.next();
      const want = model(last, ts[i]!, slot);
      if (e !== want) assert.unreachable(`epoch ${i} at ${ts[i]}: got ${e}, want ${want}`);
      assert.ok(e > last);
      if (slot !== undefined) assert.is(e % BigInt(MAX_CLOCK_SLOTS), BigInt(slot));
      last = e;
    }
    assert.is(clock.current, last);
  });
}

t('an epoch follows the physical clock after it moves on (no stale millisecond kept)', () => {
  let ms = 1000;
  const clock = new EpochClock(0n, () => ms);
  const a = clock.next();
  assert.is(a, epochAtMs(1000));
  assert.is(clock.next(), a + 1n);
  ms = 1001;
  assert.is(clock.next(), epochAtMs(1001));
  ms = 1000; // steps back: counts on from the last epoch
  assert.is(clock.next(), epochAtMs(1001) + 1n);
  ms = 5000;
  assert.is(clock.next(), epochAtMs(5000));
});

t('a bad physical time is rejected, every time', () => {
  let ms = 10;
  const clock = new EpochClock(0n, () => ms);
  clock.next();
  for (const bad of [NaN, -1, Infinity]) {
    ms = bad;
    assert.throws(() => clock.next(), (e: { code?: string }) => e.code === 'ASSERTION_FAILED');
    assert.throws(() => clock.next(), (e: { code?: string }) => e.code === 'ASSERTION_FAILED');
  }
});

t.run();
