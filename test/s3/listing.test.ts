/**
 * ListObjects over the ordered index, against a model that lists by brute force: random keys,
 * prefixes and delimiters, paged with continuation until done, on a real KV object. Also checks
 * that a page only seeks: the keys it reads are bounded by the page size plus one per common
 * prefix, however many keys the common prefixes hide.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { Pool } from '../../src/pool/pool.js';
import { listPage, prefixEnd, commonPrefixOf, encodeToken, decodeToken, type ListParams } from '../../src/s3/listing.js';
import type { KeyRange } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const pool = await Pool.create(join(tmpDir('cairn-s3-list-'), 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 64 << 20 });
const cont = await pool.createContainer('listing', { oclass: 'S4' });
const t = suite('s3-listing');
const enc = new TextEncoder(), dec = new TextDecoder();

/** Brute force: every (key | common prefix) after `after`, in order, grouped like S3. */
function model(keys: string[], prefix: string, delimiter: string | undefined): Array<{ v: string; p: boolean }> {
  const out: Array<{ v: string; p: boolean }> = [];
  for (const k of [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    if (!k.startsWith(prefix)) continue;
    const i = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    if (i >= 0) {
      const cp = k.slice(0, i + delimiter!.length);
      if (!out.length || out[out.length - 1]!.v !== cp) out.push({ v: cp, p: true });
    } else out.push({ v: k, p: false });
  }
  return out;
}

t('prefixEnd and common prefixes', () => {
  assert.equal([...prefixEnd(enc.encode('ab'))!], [0x61, 0x63]);
  assert.equal([...prefixEnd(new Uint8Array([0x61, 0xff, 0xff]))!], [0x62]);
  assert.is(prefixEnd(new Uint8Array([0xff])), undefined);
  assert.is(dec.decode(commonPrefixOf(enc.encode('a/b/c'), enc.encode('a/'), enc.encode('/'))), 'a/b/');
  assert.is(commonPrefixOf(enc.encode('a/b'), enc.encode('a/'), enc.encode('/')), undefined);
  assert.is(dec.decode(commonPrefixOf(enc.encode('x--y--z'), enc.encode(''), enc.encode('--'))), 'x--');
  const tok = encodeToken({ key: enc.encode('k/é'), isPrefix: true });
  assert.equal(decodeToken(tok), { key: enc.encode('k/é'), isPrefix: true });
  assert.is(decodeToken('not a token!'), undefined);
  assert.is(decodeToken('AA'), undefined);
});

t('random keys, prefixes and delimiters: pages concatenate to the brute-force listing', async () => {
  const rng = new Rng(2024);
  const parts = ['a', 'b', 'photos', '2024', 'x y', 'é', '-', 'z'];
  const keys = new Set<string>();
  while (keys.size < 300) {
    const n = 1 + rng.int(4);
    const seps = ['/', '/', '/', '-', '|'];
    let k = '';
    for (let i = 0; i < n; i++) k += (i ? seps[rng.int(seps.length)] : '') + parts[rng.int(parts.length)];
    keys.add(k);
  }
  const obj = cont.object('keys', { oclass: 'S4' });
  for (const k of keys) await obj.update(k, 'm', 'x');
  const scan = (r: KeyRange) => obj.listDkeys(r);
  const cases: Array<[string, string | undefined]> = [['', undefined], ['', '/'], ['a/', '/'], ['photos', '/'], ['a', '-'], ['z', undefined], ['é/', '/'], ['nothing', '/'], ['', '|'], ['b/', 'x y']];
  for (const [prefix, delimiter] of cases) {
    const want = model([...keys], prefix, delimiter);
    for (const maxKeys of [1, 3, 7, 1000]) {
      const got: Array<{ v: string; p: boolean }> = [];
      let after: ListParams['after'];
      for (let page = 0; page < 1000; page++) {
        const p = await listPage(scan, { prefix: enc.encode(prefix), delimiter: delimiter ? enc.encode(delimiter) : undefined, maxKeys, after });
        const items = [...p.keys.map((k) => ({ v: dec.decode(k), p: false })), ...p.prefixes.map((k) => ({ v: dec.decode(k), p: true }))]
          .sort((x, y) => Buffer.compare(Buffer.from(x.v), Buffer.from(y.v)));
        assert.ok(items.length <= maxKeys);
        got.push(...items);
        if (!p.truncated) break;
        assert.is(items.length, maxKeys, 'a truncated page is full');
        // Resume through the opaque token, as a client would.
        after = decodeToken(encodeToken(p.last!));
      }
      assert.equal(got, want, `prefix=${JSON.stringify(prefix)} delimiter=${JSON.stringify(delimiter)} maxKeys=${maxKeys}`);
    }
  }
});

t('a page seeks past common prefixes instead of reading the keys under them', async () => {
  const obj = cont.object('wide', { oclass: 'S4' });
  // 40 "directories" of 50 keys each, and 5 top-level keys.
  for (let d = 0; d < 40; d++) for (let f = 0; f < 50; f++) await obj.update(`dir${String(d).padStart(2, '0')}/f${f}`, 'm', 'x');
  for (let f = 0; f < 5; f++) await obj.update(`top${f}`, 'm', 'x');
  let keysRead = 0;
  const scan = async function* (r: KeyRange) { for await (const k of obj.listDkeys(r)) { keysRead++; yield k; } };
  const p = await listPage(scan, { prefix: new Uint8Array(0), delimiter: enc.encode('/'), maxKeys: 1000 });
  assert.is(p.prefixes.length, 40);
  assert.is(p.keys.length, 5);
  assert.is(p.truncated, false);
  assert.is(p.seeks, 41, 'one seek to start, one past each common prefix');
  assert.ok(keysRead <= 40 + 5 + 1, `read ${keysRead} keys of 2005`);
  keysRead = 0;
  const small = await listPage(scan, { prefix: enc.encode('dir07/'), maxKeys: 10 });
  assert.is(small.keys.length, 10);
  assert.ok(small.truncated);
  assert.ok(keysRead <= 11, `a 10-key page read ${keysRead} keys`);
});

t.after(async () => { await pool.close(); });
t.run();
