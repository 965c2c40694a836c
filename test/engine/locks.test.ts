/** Stripe locks of an engine (src/engine/locks.ts): exclusive, re-entrant, FIFO handover, lapsing after the TTL, TX_RESTART when busy too long. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LockTable } from '../../src/engine/locks.js';
import { rejectsWith } from '../helpers/tmp.js';

test('exclusive, re-entrant, handed over in order, lapses, times out', async () => {
  const l = new LockTable();
  await l.acquire('k', 'a', 10_000, 1000);
  await l.acquire('k', 'a', 10_000, 1000); // re-entrant
  const order: string[] = [];
  const b = l.acquire('k', 'b', 10_000, 5000).then(() => order.push('b'));
  const c = l.acquire('k', 'c', 10_000, 5000).then(() => order.push('c'));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(order, [], 'held by a');
  l.release('k', 'x'); // not the holder: no effect
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(order, []);
  l.release('k', 'a');
  await b;
  assert.equal(order, ['b']);
  l.release('k', 'b');
  await c;
  assert.equal(order, ['b', 'c']);
  await rejectsWith(l.acquire('k', 'd', 10_000, 50), 'TX_RESTART');
  // A holder that vanished: its lock lapses after its TTL.
  await l.acquire('z', 'dead', 60, 100);
  const t0 = Date.now();
  await l.acquire('z', 'e', 1000, 2000);
  assert.ok(Date.now() - t0 >= 40, 'waited for the TTL');
  l.release('z', 'e');
  l.release('k', 'c');
  assert.is(l.size, 0);
});

test.run();
