/**
 * A journal that is not durable writes its groups through a writable mapping of its file (no
 * system call per group; `JOURNAL_MAP_BYTES`), with its pages mapped ahead in one call per chunk
 * (native `mapPrefault`). Specification: the file is byte-for-byte the one pwrite leaves
 * (`CAIRN_JOURNAL_MAPPED=0`), closed or killed; a process killed with SIGKILL loses no record
 * written before it died; groups past the mapped range go through pwrite and read back too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Journal, JOURNAL_MAP_BYTES } from '../../src/container/journal.js';
import { initXxhash } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';

const t = suite('container: mapped journal writes');
const tmp = mkdtempSync(join(tmpdir(), 'cairn-journal-mapped-'));
const child = new URL('./journal-mapped-child.ts', import.meta.url).pathname;
let n = 0;

/** Run the child writer: `groups` groups from `seed` into a fresh journal; returns its path and the last epoch it wrote. */
function write(seed: number, groups: number, end: 'close' | 'kill', mapped: boolean): { path: string; last: bigint } {
  const path = join(tmp, `j${n++}`);
  const env = { ...process.env };
  if (mapped) delete env.CAIRN_JOURNAL_MAPPED; else env.CAIRN_JOURNAL_MAPPED = '0';
  const r = spawnSync(process.execPath, [...process.execArgv, child, path, String(seed), String(groups), end], { env, encoding: 'utf8' });
  const m = /acked (\d+)/.exec(r.stdout);
  assert.ok(m, `the writer ran (${r.stderr})`);
  if (end === 'kill') assert.is(r.signal, 'SIGKILL', 'the writer was killed'); else assert.is(r.status, 0, r.stderr);
  return { path, last: BigInt(m![1]!) };
}

t.before(async () => { await initXxhash(); });
t.after(() => { rmSync(tmp, { recursive: true, force: true }); });

t('the native addon, where it is built, can map pages ahead (mapPrefault): mapped journals run here', () => {
  const addon = loadNative().addon;
  if (addon === undefined) { console.log(`  (native addon not built: ${loadNative().reason}; journals use pwrite)`); return; }
  assert.type(addon.mapPrefault, 'function', 'an addon built from these sources has mapPrefault (rebuild it: npm run build:native)');
});

for (const end of ['close', 'kill'] as const) {
  t(`${end === 'close' ? 'closed' : 'killed (SIGKILL)'}: the mapped journal's file is pwrite's, byte for byte, and holds every record written`, () => {
    const a = write(11, 300, end, true), b = write(11, 300, end, false);
    assert.is(a.last, b.last);
    assert.ok(readFileSync(a.path).equals(readFileSync(b.path)), 'identical files');
    const r = Journal.open(a.path);
    const epochs = r.records.map((x) => x.epoch);
    assert.is(epochs.length, Number(a.last), 'every record read back');
    assert.is(epochs[epochs.length - 1], a.last);
    assert.is(r.truncatedBytes, 0, 'no torn tail');
    r.journal.close();
  });
}

t('groups past the mapped range are written with pwrite and read back', () => {
  // ~26 KB a group of 40 records of ~650 bytes at most: enough groups to pass JOURNAL_MAP_BYTES of file (two copies)
  const groups = Math.ceil((JOURNAL_MAP_BYTES / 2) / 12_000) + 200;
  const a = write(5, groups, 'kill', true), b = write(5, groups, 'kill', false);
  assert.ok(readFileSync(a.path).length > JOURNAL_MAP_BYTES, 'the file outgrew the mapping');
  assert.ok(readFileSync(a.path).equals(readFileSync(b.path)), 'identical files');
  const r = Journal.open(a.path);
  assert.is(r.records.length, Number(a.last));
  r.journal.close();
});

t.run();
