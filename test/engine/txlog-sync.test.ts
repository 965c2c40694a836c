/**
 * A durable transaction log (`cairn engine --durable`) syncs its groups off the event loop, on a
 * syncer thread of its own: an append resolves once its group is written and a sync that started
 * after it completed, every group is in the file in order, and no fdatasync runs on the JavaScript
 * thread for it (each one blocked the engine's loop for the sync's time). Without the native
 * addon the log syncs on the loop, as before.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { TxLog, type TxRecord } from '../../src/engine/txlog.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { tmpDir } from '../helpers/tmp.js';
import { initXxhash } from '../../core/xxhash.js';

/** fdatasyncSync calls on this thread (every module's `import { fdatasyncSync } from 'node:fs'` included). */
let onLoop = 0;
const realSync = fs.fdatasyncSync;
fs.fdatasyncSync = (fd: number) => { onLoop++; realSync(fd); };
syncBuiltinESMExports();

await initXxhash();
const offLoop = nativeAddon()?.syncerOpen !== undefined;
const t = suite('durable transaction log syncs');
const dir = tmpDir();
const rec = (i: number): TxRecord => ({ t: 'D', c: 'c0', e: String(1000 + i), u: [String(i)] });

t('groups sync off the event loop, resolve once synced, and read back in order', async () => {
  const path = join(dir, 'tx.log');
  const { log } = TxLog.open(path, true);
  onLoop = 0;
  const acks: Array<Promise<void>> = [];
  for (let group = 0; group < 20; group++) {
    // (each group a synchronous stretch of 3 appends; the next one starts after a macrotask)
    for (let i = 0; i < 3; i++) acks.push(log.append(rec(group * 3 + i)));
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(acks);
  if (offLoop) assert.is(onLoop, 0, 'no fdatasync on the event loop for a group');
  else assert.ok(onLoop >= 1, 'without the addon each group syncs on the loop');
  assert.equal(TxLog.read(path).map((r) => r.e), Array.from({ length: 60 }, (_, i) => String(1000 + i)));
  // after a rewrite (compaction) the log syncs the new file the same way
  log.rewrite(TxLog.read(path).slice(-5));
  onLoop = 0;
  await Promise.all([log.append(rec(100)), log.append(rec(101))]);
  if (offLoop) assert.is(onLoop, 0);
  assert.equal(TxLog.read(path).map((r) => r.e), ['1055', '1056', '1057', '1058', '1059', '1100', '1101']);
  // an append still in flight at close is synced and answered
  const last = log.append(rec(102));
  log.close();
  await last;
  assert.equal(TxLog.read(path).at(-1)?.e, '1102');
});

t('a log that is not durable never syncs', async () => {
  const path = join(dir, 'plain.log');
  const { log } = TxLog.open(path, false);
  onLoop = 0;
  await Promise.all([log.append(rec(1)), log.append(rec(2))]);
  log.close();
  assert.is(onLoop, 0);
  assert.equal(TxLog.read(path).map((r) => r.e), ['1001', '1002']);
});

t.after(() => { fs.fdatasyncSync = realSync; syncBuiltinESMExports(); });
t.run();
