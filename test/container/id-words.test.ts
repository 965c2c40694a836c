/**
 * `IdWords`, the object ids a checkpoint or compaction folds into the registry: `records()` gives
 * each id once, ascending, as 16 big-endian bytes, whatever order and repeats they were added in,
 * from hex, ASCII or packed digits. The native sort (a radix sort from 256 records, qsort below)
 * and the JavaScript one (the addon off) give the same answer as a plain model (sorted BigInts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { IdWords } from '../../src/container/storage.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { Rng } from '../../core/rng.js';

const t = suite('id-words');

/** `n` ids of the kinds a pool makes (class bits high, many ids sharing their high bytes), with repeats. */
function ids(seed: number, n: number): bigint[] {
  const rng = new Rng(seed);
  const out: bigint[] = [];
  const word = () => BigInt(rng.int(0x1_0000_0000));
  for (let i = 0; i < n; i++) {
    const kind = rng.int(4);
    const lo = (word() << 32n) | word();
    const id = kind === 0 ? lo : kind === 1 ? (0x2a01n << 112n) | lo : kind === 2 ? (word() << 96n) | (word() << 64n) | lo : BigInt(rng.int(1000));
    out.push(id);
    if (rng.int(10) === 0) out.push(id); // (a repeat)
  }
  return out;
}

/** The model: each id once, ascending, 16 big-endian bytes each. */
function model(list: bigint[]): string {
  return [...new Set(list)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((x) => x.toString(16).padStart(32, '0')).join('');
}

/** Equal hex strings; on a difference, the first record that differs (uvu's diff of megabyte strings does not end). */
function same(got: string, want: string, what: string): void {
  if (got === want) { assert.ok(true); return; }
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  const at = Math.floor(i / 32) * 32;
  assert.unreachable(`${what}: record ${at / 32} differs: ${got.slice(at, at + 32)} against ${want.slice(at, at + 32)} (${got.length / 32} records against ${want.length / 32})`);
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

t('records(): each id once, ascending, big-endian, for sizes around the radix sort\'s threshold', () => {
  for (const n of [0, 1, 2, 255, 256, 257, 5000, 40_000]) {
    const list = ids(n + 1, n);
    const w = new IdWords();
    list.forEach((x, i) => {
      const h = x.toString(16);
      if (i % 3 === 0) assert.ok(w.addHex(h));
      else if (i % 3 === 1) assert.ok(w.addAscii(Buffer.from(h), 0, h.length));
      else { const p = Buffer.from((h.length % 2 ? '0' + h : h), 'hex'); assert.ok(w.addPacked(p, 0, h.length + (h.length % 2))); }
    });
    same(hex(w.records()), model(list), `${n} ids`);
  }
});

t('the native sort orders whole records by their bytes and keeps each once', () => {
  const sort = nativeAddon()?.sortIdRecords;
  if (sort === undefined) { assert.ok(true, 'no native addon here: the JavaScript sort is the one used'); return; }
  const list = ids(7, 10_000);
  const buf = Buffer.from(list.map((x) => x.toString(16).padStart(32, '0')).join(''), 'hex');
  const m = sort(buf);
  same(buf.subarray(0, 16 * m).toString('hex'), model(list), 'sorted records');
  assert.throws(() => sort(new Uint8Array(17)), /whole 16-byte records/);
});

t('with the native addon off, records() gives the same answer', () => {
  const script = `
    const { IdWords } = await import(${JSON.stringify(new URL('../../src/container/storage.ts', import.meta.url).pathname)});
    const { nativeAddon } = await import(${JSON.stringify(new URL('../../src/media/io-uring.ts', import.meta.url).pathname)});
    const w = new IdWords();
    for (const h of process.argv[1].split(',')) w.addHex(h);
    const r = w.records();
    console.log((nativeAddon() === undefined ? 'js ' : 'native ') + Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString('hex'));`;
  const list = ids(11, 3000);
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, list.map((x) => x.toString(16)).join(',')], { env: { ...process.env, CAIRN_NO_NATIVE: '1' }, encoding: 'utf8' });
  assert.is(out.status, 0, out.stderr);
  same(out.stdout.trim(), `js ${model(list)}`, 'the JavaScript sort\'s records');
});

t.run();
