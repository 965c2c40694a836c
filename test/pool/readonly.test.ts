/**
 * Read-only opens from a second process (issue 16): a writer process (readonly-writer.ts) holds
 * the pool and commits without pause; this process opens the same directory with
 * `Pool.open(dir, { readOnly: true })`, sees every commit finished before the open, newer ones
 * (commits, snapshots, containers) after `refresh()`, never half a commit, and is refused every
 * write with `READ_ONLY`. Real processes, real files; the writer is also killed mid-commit.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { READERS_DIR } from '../../src/container/readers.js';
import { Pool, type Container, type CommitEvent } from '../../index.js';
import { rejectsWith, text } from '../helpers/tmp.js';
import { tmpDir } from '../helpers/tmp.js';
import { BLOB_EVERY, Writer, checkState, commitRound, type SeenState } from './readonly-fixture.js';

/** EC (data in parity-protected pieces, partial-stripe rewrites) for the main run. */
const OCLASS = 'EC_2P1G1';
/** Refresh rounds while the writer keeps committing. */
const REFRESH_ROUNDS = 12;
/** Rounds the writer commits while a reader holds one view (several aggregations and merges). */
const HELD_VIEW_ROUNDS = 600;
/** Longest the watcher may take to deliver the commits a refresh revealed. */
const WATCH_WAIT_MS = 30_000;

const dir = join(tmpDir(), 'pool');
let writer: Writer;
let ro: Pool;
let c: Container;
let atOpen: SeenState;

const t = suite('read-only open from another process');

t.before(async () => {
  writer = new Writer(dir, OCLASS);
  await writer.waitFor(/^ready$/);
  await writer.waitCommitted(40);
});
t.after(async () => {
  await ro?.close().catch(() => undefined);
  await writer.kill().catch(() => undefined);
});

t('a writable open of the busy pool is POOL_BUSY; a read-only one sees every commit finished before it', async () => {
  await rejectsWith(Pool.open(dir), 'POOL_BUSY');
  const before = writer.committed;
  ro = await Pool.open(dir, { readOnly: true });
  assert.ok(ro.readOnly);
  c = await ro.openContainer('c');
  atOpen = await checkState(c, OCLASS);
  assert.ok(atOpen.last >= before, `the reader sees round ${atOpen.last}, the writer had reported ${before} before the open`);
  assert.ok(atOpen.blobGen >= 8, 'the array was written (data-file values) and is read back');
  assert.is(writer.committed >= atOpen.last, true);
  // the state stays put until refresh(), however far the writer gets meanwhile
  await writer.waitCommitted(atOpen.last + 30);
  const again = await checkState(c, OCLASS);
  assert.is(again.last, atOpen.last);
  assert.is(again.epoch, atOpen.epoch);
  assert.equal(await ro.listContainers().then((l) => l.map((x) => x.label)), ['c']);
});

t('every write through the read-only handle is refused with READ_ONLY and changes nothing', async () => {
  await rejectsWith(c.kv('log').put('k1', 'overwritten'), 'READ_ONLY');
  await rejectsWith(c.kv('log').batch([{ type: 'del', key: 'last' }]), 'READ_ONLY');
  await rejectsWith(c.array('blob', { oclass: OCLASS }).write(0, 'x'), 'READ_ONLY');
  await rejectsWith(c.object('other').punch(), 'READ_ONLY');
  await rejectsWith(async () => { const tx = c.beginTx(); await tx.object('t').update('d', 'a', 'v'); await tx.commit(); }, 'READ_ONLY');
  await rejectsWith(c.snapshot('nope'), 'READ_ONLY');
  await rejectsWith(c.aggregate(), 'READ_ONLY');
  await rejectsWith(ro.createContainer('nope'), 'READ_ONLY');
  await rejectsWith(ro.destroyContainer('c'), 'READ_ONLY');
  await rejectsWith(ro.exclude(0), 'READ_ONLY');
  await rejectsWith(ro.drain(0), 'READ_ONLY');
  await rejectsWith(ro.extend({ nodes: 1 }), 'READ_ONLY');
  await rejectsWith(ro.scrub(), 'READ_ONLY');
  assert.is(text(await c.kv('log').get('k1')), 'v1');
  await checkState(c, OCLASS);
  // a second reader in this process and the writer are unaffected
  const ro2 = await Pool.open(dir, { readOnly: true });
  try { await checkState(await ro2.openContainer('c'), OCLASS); } finally { await ro2.close(); }
});

t('a view held while the writer goes on (flushes, merges, aggregations) still reads its epoch exactly', async () => {
  // the writer aggregates every 128 rounds: its compactions move and free what the view's index points at
  await writer.waitCommitted(atOpen.last + HELD_VIEW_ROUNDS);
  const held = await checkState(c, OCLASS);
  assert.equal(held, atOpen);
  assert.is(text(await c.kv('log').get('k1')), 'v1');
});

t('refresh() shows newer commits, snapshots and containers; watch() yields the new commits in order', async () => {
  // a watcher from the open on: it must get every commit the refreshes reveal, in order
  const events: CommitEvent[] = [];
  const logOid = c.kv('log').object.oid;
  let logCommits = 0;
  let want = Infinity;
  let reached!: () => void;
  const enough = new Promise<void>((r) => { reached = r; });
  const ac = new AbortController();
  const watching = (async () => {
    try {
      for await (const ev of c.watch({ from: atOpen.epoch, signal: ac.signal })) {
        events.push(ev);
        if (ev.objects.includes(logOid)) logCommits++;
        if (logCommits >= want) reached();
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'ABORTED') throw err;
    }
  })();
  let prev = atOpen;
  for (let round = 0; round < REFRESH_ROUNDS; round++) {
    const reported = writer.committed;
    await ro.refresh();
    const now = await checkState(c, OCLASS);
    assert.ok(now.last >= reported, `round ${round}: reader at ${now.last} after refresh, writer had reported ${reported}`);
    assert.ok(now.epoch > prev.epoch, `round ${round}: the read epoch moves forward`);
    prev = now;
    await writer.waitCommitted(now.last + 5);
  }
  // a snapshot and a container the writer makes now
  writer.send('snapshot s1');
  const [, name, epoch, last] = (await writer.waitFor(/^snap s1 /)).split(' ');
  writer.send('container second');
  await writer.waitFor(/^container second$/);
  await rejectsWith(ro.openContainer('second'), 'NOT_FOUND'); // not before refresh
  await ro.refresh();
  const snap = c.listSnapshots().find((s) => s.name === name);
  assert.ok(snap, 'the snapshot shows after refresh');
  assert.is(String(snap!.epoch), epoch);
  const atSnap = await checkState(c, OCLASS, c.readEpoch({ snapshot: 's1' }));
  assert.is(atSnap.last, Number(last), 'reads at the snapshot see exactly its state');
  const second = await ro.openContainer('second');
  assert.is(text(await second.kv('x').get('hello')), 'world');
  // the watcher saw one event per commit past the open, in epoch order, none above the reader's epoch
  const upTo = c.readEpoch();
  want = (await checkState(c, OCLASS)).last - atOpen.last; // one batch per round, plus the blobGen puts
  if (logCommits >= want) reached();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([enough, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`watch gave ${logCommits} of ${want} KV commits`)), WATCH_WAIT_MS); })])
    .finally(() => clearTimeout(timer));
  ac.abort();
  await watching;
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.epoch > events[i - 1]!.epoch, 'watch events in epoch order');
  assert.ok(events[0]!.epoch > atOpen.epoch);
  assert.ok(events[events.length - 1]!.epoch <= upTo);
  assert.is(JSON.parse(JSON.stringify(events[0])).epoch, String(events[0]!.epoch), 'events are JSON-safe');
});

t('a target the writer excludes and rebuilds: after refresh the reader has the new map and reads everything', async () => {
  writer.send('exclude 2');
  const [, , state, version] = (await writer.waitFor(/^excluded 2 /)).split(' ');
  assert.is(state, 'DOWNOUT');
  await writer.waitCommitted(writer.committed + 20); // written with target 2 out
  await ro.refresh();
  const q = ro.query();
  assert.is(q.mapVersion, Number(version));
  assert.is(q.targets[2]!.state, 'DOWNOUT');
  await checkState(c, OCLASS);
  assert.is(text(await c.kv('log').get('k1')), 'v1', 'data rebuilt off the excluded target reads');
});

t('a writer killed mid-commit: the reader still sees a consistent state, and the pool opens for writing again', async () => {
  await writer.waitCommitted(writer.committed + 20);
  await writer.kill('SIGKILL');
  const reported = writer.committed;
  await ro.refresh();
  const after = await checkState(c, OCLASS);
  assert.ok(after.last >= reported, `reader at ${after.last}, writer reported ${reported}`);
  assert.ok(after.last <= reported + 1, 'at most the commit the writer did not report yet');
  // the next writer repairs the torn commit; the reader keeps reading meanwhile
  const w = await Pool.open(dir);
  try {
    const wc = await w.openContainer('c');
    const repaired = await checkState(wc, OCLASS);
    assert.is(repaired.last, after.last);
    for (let n = after.last + 1; n <= after.last + BLOB_EVERY; n++) await commitRound(wc, n, OCLASS);
    await ro.refresh();
    assert.is((await checkState(c, OCLASS)).last, after.last + BLOB_EVERY);
  } finally { await w.close(); }
});

t("the writer's aggregate() keeps what a registered reader reads; a dead reader's registration is dropped", async () => {
  const d = join(tmpDir(), 'agg-pool');
  const w = await Pool.create(d, { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
  try {
    const wc = await w.createContainer('c', { oclass: 'RP_2G1' });
    await wc.kv('k').put('x', 'old');
    const r = await Pool.open(d, { readOnly: true });
    try {
      const rc = await r.openContainer('c');
      const at = rc.readEpoch();
      const readers = join(d, 'containers', wc.uuid, READERS_DIR);
      assert.is(readdirSync(readers).length, 1, 'the reader registered its epoch');
      for (let i = 0; i < 20; i++) await wc.kv('k').put('x', `new ${i}`);
      await wc.aggregate();
      assert.is(text(await rc.kv('k').get('x')), 'old');
      await r.refresh(); // re-reads the aggregated stores
      assert.is(text(await rc.kv('k').get('x')), 'new 19');
      assert.is(text(await rc.kv('k').get('x', { epoch: at })), 'old', 'the version the reader read at its open survived the aggregation');
      // a registration left by a process that is gone does not hold anything back
      writeFileSync(join(readers, '999999999-dead'), JSON.stringify({ pid: 999_999_999, epoch: '1' }));
      await wc.aggregate();
      assert.not.ok(existsSync(join(readers, '999999999-dead')), 'the dead registration was removed');
    } finally { await r.close(); }
    assert.equal(readdirSync(join(d, 'containers', wc.uuid, READERS_DIR)), [], 'close removed the registration');
  } finally { await w.close(); }
});

t('close: a closed read-only handle refuses use; open of a missing pool read-only is NOT_FOUND', async () => {
  await ro.close();
  await rejectsWith(async () => ro.openContainer('c'), 'POOL_CLOSED');
  await rejectsWith(Pool.open(join(dir, 'nope'), { readOnly: true }), 'NOT_FOUND');
});

t.run();
