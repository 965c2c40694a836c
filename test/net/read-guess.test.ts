/**
 * Located reads started on a guess (src/net/link.ts `readGuesses`): a whole-range read of a range
 * its engine located before is read from where the extent lay then while the `engine.locate`
 * request is out, and kept only when the bytes hash to the checksum (and length) the engine's
 * answer names. The engine here is a server whose `engine.locate` answers through `locateFetch`
 * and whose single reads go through `serveFetchInto`, over a store whose values lie in a real
 * file and can be written again: at a new place (the old bytes stay in the file, so the guess
 * reads bytes that check out against the old checksum: a stale value unless the answer is
 * compared), in place (the guess mismatches), or so that the store no longer locates them.
 * Checked: bytes always equal the newest value, guesses are started and kept on reads again, a
 * lone read with a guess is located (one request), and a wrong guess is forgotten or replaced.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { readGuesses } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import { tmpDir } from '../helpers/tmp.js';
import { locatedStore, locatedEngine } from './located-store.js';
import { PreadEngine } from '../../src/media/pread.js';

const t = suite('read-guess');
/** Whether this build has hashed reads (the native addon): without them (CAIRN_NO_NATIVE=1) a client reads nothing from an engine's data file, so only the bytes are checked (the reads engineer's note, as in direct-read). */
const LOCATED = new PreadEngine().readvHash !== undefined;
// (off by default: CAIRN_RPC_READ_GUESS=1; on for every case here but the last)
t.before(() => { readGuesses.on = true; });
const KB = 1024;
const enc = (s: string) => new TextEncoder().encode(s);
const rng = new Rng(2512);
const randomBytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.int(256); return b; };

async function setup(values: Uint8Array[]) {
  await initXxhash();
  const dir = tmpDir('cairn-guess-');
  const f = locatedStore(join(dir, 't0'), values);
  const requests: Array<{ method: string; items: number }> = [];
  const engine = await locatedEngine(f, dir, { seen: (method, _h, items) => requests.push({ method, items }) });
  const remote = engine.remote;
  const read = async (i: number): Promise<Buffer> => {
    const n = values[i]!.length;
    const into = [new Uint8Array(n >> 1), new Uint8Array(n - (n >> 1))];
    await remote.fetchArrayInto!(9n, 3n, enc('d'), enc(`a${i}`), { index: 0, count: n }, into);
    return Buffer.concat(into);
  };
  const readAll = async (round: string) => {
    const got = await Promise.all(values.map((_, i) => read(i)));
    got.forEach((g, i) => assert.ok(g.equals(Buffer.from(values[i]!)), `${round}: a${i} holds its newest value`));
  };
  return {
    f, requests, read, readAll,
    close: engine.close,
  };
}

t('reads again start on guesses, keep them, and a lone read with a guess is located', async () => {
  const values = [64 * KB, 128 * KB + 5, 256 * KB, 512 * KB].map(randomBytes);
  const s = await setup(values);
  try {
    await s.read(0); // (connects the pipe: only a connected local pipe locates)
    await s.readAll('first');
    const g0 = { ...readGuesses };
    for (let round = 0; round < 3; round++) await s.readAll(`again ${round}`);
    if (!LOCATED) { assert.is(readGuesses.started - g0.started, 0, 'no hashed reads here: nothing located, no guess'); return; }
    assert.is(readGuesses.started - g0.started, 3 * values.length, 'every read again started on a guess');
    assert.is(readGuesses.kept - g0.kept, 3 * values.length, 'and kept it');
    assert.is(readGuesses.missed - g0.missed, 0);
    const n0 = s.requests.length, k0 = readGuesses.kept;
    assert.ok((await s.read(3)).equals(Buffer.from(values[3]!)));
    assert.equal(s.requests.slice(n0), [{ method: ENGINE_METHODS.locate, items: 1 }], 'the lone read asked where its extent lies');
    assert.is(readGuesses.kept - k0, 1);
  } finally { await s.close(); }
});

t('a range written again returns its new value: moved (old bytes still there), in place, or no longer located', async () => {
  const values = [128 * KB, 256 * KB, 256 * KB, 512 * KB].map(randomBytes);
  const s = await setup(values);
  try {
    await s.read(0);
    await s.readAll('first');
    await s.readAll('guessed');
    const g0 = { ...readGuesses };
    s.f.rewrite(0, randomBytes(values[0]!.length), false); // the guess reads the old bytes, which check out against the old checksum
    s.f.rewrite(1, randomBytes(values[1]!.length), true); // the guess reads bytes that check out against nothing it knows
    s.f.rewrite(2, randomBytes(values[2]!.length), false);
    s.f.unlocated.add(2); // the engine answers `again`: the read goes on its own
    await s.readAll('written again');
    if (!LOCATED) { await s.readAll('after'); return; } // (no hashed reads here: the bytes are all there is to check)
    assert.is(readGuesses.started - g0.started, values.length);
    assert.is(readGuesses.missed - g0.missed, 3, 'three guesses missed');
    assert.is(readGuesses.kept - g0.kept, 1, 'the unchanged one was kept');
    // The moved one is remembered at its new place, the unlocated one forgotten.
    const g1 = { ...readGuesses };
    await s.readAll('after');
    assert.is(readGuesses.started - g1.started, values.length - 1, 'no guess for the range the engine no longer locates');
    assert.is(readGuesses.kept - g1.kept, values.length - 1);
  } finally { await s.close(); }
});

t('with guesses off (the default), no read starts on one and the bytes are the same', async () => {
  const values = [64 * KB, 256 * KB].map(randomBytes);
  const s = await setup(values);
  readGuesses.on = false;
  try {
    await s.read(0);
    await s.readAll('first');
    const g0 = { ...readGuesses };
    await s.readAll('again');
    s.f.rewrite(1, randomBytes(values[1]!.length), false);
    await s.readAll('written again');
    assert.is(readGuesses.started - g0.started, 0);
  } finally { readGuesses.on = true; await s.close(); }
});

t.run();
