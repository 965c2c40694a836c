/**
 * Byte-string helpers: `hex` and `latin1` give exactly what Buffer's encoders give, for every
 * length across their short-input paths and beyond, on views that do not start at offset 0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { hex, latin1, toBytes, toText } from '../../core/bytes.js';

test('hex and latin1 equal Buffer encodings at every length 0..80, on offset views', () => {
  const rng = new Rng(5);
  for (let n = 0; n <= 80; n++) {
    for (let r = 0; r < 20; r++) {
      const backing = rng.bytes(n + 7);
      const v = backing.subarray(7); // a view, byteOffset 7
      const ref = Buffer.from(v);
      assert.is(hex(v), ref.toString('hex'), `hex of ${n} bytes`);
      assert.is(latin1(v), ref.toString('latin1'), `latin1 of ${n} bytes`);
      assert.is(latin1(v).length, n);
    }
  }
  assert.is(hex(Uint8Array.of(0, 0xff, 0x0a)), '00ff0a');
  assert.is(latin1(Uint8Array.of(0, 0xff, 0x41)), '\u0000\u00ffA');
});

test('distinct byte strings get distinct latin1 strings (a map key)', () => {
  const rng = new Rng(6);
  const seen = new Map<string, string>();
  for (let i = 0; i < 3000; i++) {
    const b = rng.bytes(rng.int(40));
    const k = latin1(b); const h = Buffer.from(b).toString('hex');
    const had = seen.get(k);
    assert.ok(had === undefined || had === h, 'latin1 collision');
    seen.set(k, h);
  }
});

test('toBytes / toText round-trip UTF-8', () => {
  for (const s of ['', 'a', 'héllo', '日本', '\u0000x']) assert.is(toText(toBytes(s)), s);
});

test.run();
