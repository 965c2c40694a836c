/**
 * The flat history of published commits (`CommitHistory`) against a plain array of events: the
 * newest `capacity` commits, oldest first, read back equal, searched by epoch, through growth and
 * wrap-around of its ring.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitHistory } from '../../src/container/commit-history.js';
import type { CommitEvent } from '../../src/container/storage.js';
import { Rng } from '../../core/rng.js';

const t = suite('commit-history');

t('matches an array model through growth and wrap-around', () => {
  const rng = new Rng(0xc0417);
  for (const capacity of [1, 3, 1024, 2500]) {
    const h = new CommitHistory(capacity);
    const model: CommitEvent[] = [];
    let epoch = 10n;
    for (let i = 0; i < 6000; i++) {
      epoch += BigInt(1 + rng.int(5));
      const n = rng.int(4) === 0 ? 2 + rng.int(3) : 1;
      // ids of every width up to 128 bits (class bits on top, as object ids have them), kept as two 64-bit halves
      const objects = Array.from({ length: n }, () => rng.int(3) === 0 ? BigInt(rng.int(1 << 30)) << 64n | BigInt(i)
        : rng.int(2) === 0 ? (BigInt(0x80000000 + rng.int(1 << 30)) << 96n) | (BigInt(rng.int(1 << 30)) << 64n) | (BigInt(rng.int(1 << 30)) << 32n) | BigInt(i)
          : BigInt(i));
      if (n === 1 && rng.int(2) === 0) h.push(epoch, objects[0]!); else h.pushEvent({ epoch, objects: [...objects] });
      model.push({ epoch, objects });
      if (model.length > capacity) model.shift();
      if (i % 97 === 0 || i > 5990) {
        assert.is(h.length, model.length);
        assert.equal(h.tail(), model);
        assert.equal(h.tail(7), model.slice(-7));
        for (let k = 0; k < 5; k++) {
          const j = rng.int(model.length);
          assert.is(h.epochAt(j), model[j]!.epoch);
          assert.equal(h.at(j), model[j]);
          // the oldest commit above an epoch (one held, one between two held, one past the newest)
          for (const probe of [model[j]!.epoch, model[j]!.epoch - 1n, epoch + 1n, 0n]) {
            assert.is(h.firstAfter(probe), model.findIndex((e) => e.epoch > probe), `firstAfter ${probe}`);
          }
        }
      }
    }
  }
});

t('an object id outside 128 bits is refused (it could not be kept in two halves)', () => {
  const h = new CommitHistory(4);
  assert.throws(() => h.push(1n, 1n << 128n));
  assert.throws(() => h.push(2n, -1n));
  h.push(3n, (1n << 128n) - 1n);
  assert.equal(h.at(0), { epoch: 3n, objects: [(1n << 128n) - 1n] });
});

t('events read back are copies: changing one changes nothing held', () => {
  const h = new CommitHistory(4);
  h.pushEvent({ epoch: 5n, objects: [1n, 2n] });
  h.at(0).objects.push(3n);
  assert.equal(h.at(0), { epoch: 5n, objects: [1n, 2n] });
});

t.run();
