/**
 * A file's group syncs on a thread of their own (media/syncer.ts, native/syncer.c). Specification:
 * every `sync()` resolves once an fdatasync that started after it returned; syncs asked for while
 * one runs share the next one (fewer fdatasyncs than requests in a burst); the syncer syncs a
 * descriptor of its own (the caller's may be closed at once); a failing fdatasync rejects the
 * requests it covered with a MediaError naming the errno; after `close()` the requests already
 * made are still answered and a new one is refused. Given several descriptors it syncs on a thread
 * each, with the same promises. Requests made one at a time, each after the last was answered (its
 * threads asleep between them), are each answered.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileSyncer, SYNCER_MAX_THREADS } from '../../src/media/syncer.js';
import { MediaError } from '../../src/media/errors.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { diskTmpDir } from '../helpers/tmp.js';

const tmp = diskTmpDir('cairn-syncer-');
const t = suite('media: file syncer');
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const available = () => nativeAddon()?.syncerOpen !== undefined;

/**
 * Bursts of 200 requests (each after a write to `fd`) share fdatasyncs, fewer than 100 a burst, and
 * then a lone request gets a sync of its own; closes `s` and `fd`.
 */
async function burstsShareSyncs(s: FileSyncer, fd: number): Promise<void> {
  try {
    for (let round = 0; round < 3; round++) {
      const before = s.syncs;
      const ps: Array<Promise<void>> = [];
      for (let i = 0; i < 200; i++) { fs.writeSync(fd, Buffer.from(`${round}:${i}\n`)); ps.push(s.sync()); }
      await Promise.all(ps);
      const ran = s.syncs - before;
      assert.ok(ran >= 1 && ran < 100, `round ${round}: 200 requests took ${ran} fdatasyncs`);
    }
    // one at a time: one fdatasync each
    const before = s.syncs;
    for (let i = 0; i < 5; i++) await s.sync();
    assert.is(s.syncs - before, 5, 'a lone request gets a sync of its own');
  } finally {
    s.close();
    fs.closeSync(fd);
  }
}

t('a burst of syncs all resolve, sharing fdatasyncs: fewer than the requests', async () => {
  if (!available()) return;
  const fd = fs.openSync(path.join(tmp, 'burst.dat'), 'w+');
  const s = FileSyncer.open(fd)!;
  assert.ok(s, 'made');
  await burstsShareSyncs(s, fd);
});

t('its threads are named cairn-sync (told apart from Node\'s own in /proc, perf and top -H)', async () => {
  if (!available()) return;
  // (by thread id: a closed syncer's thread may still be ending, so counting names could see none new)
  const threads = () => new Map(fs.readdirSync('/proc/self/task').map((tid) => {
    let name = '';
    try { name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(); } catch { /* (the thread ended meanwhile) */ }
    return [tid, name] as const;
  }));
  const before = threads();
  const fd = fs.openSync(path.join(tmp, 'named.dat'), 'w+');
  const s = FileSyncer.open(fd)!;
  try {
    fs.writeSync(fd, Buffer.from('x'));
    await s.sync();
    const after = threads();
    const made = [...after].filter(([tid]) => !before.has(tid));
    assert.ok(made.some(([, name]) => name === 'cairn-sync'), `threads made by the syncer: ${made.map(([tid, name]) => `${tid}=${name}`).join(', ')}`);
  } finally {
    s.close();
    fs.closeSync(fd);
  }
});

t('the syncer syncs a descriptor of its own: the caller may close its descriptor', async () => {
  if (!available()) return;
  const fd = fs.openSync(path.join(tmp, 'own.dat'), 'w+');
  const s = FileSyncer.open(fd)!;
  fs.writeSync(fd, Buffer.from('x'));
  fs.closeSync(fd);
  try {
    await s.sync();
    await Promise.all([s.sync(), s.sync()]);
    assert.ok(s.syncs >= 2);
  } finally {
    s.close();
  }
});

t('a failing fdatasync rejects what it covered with a MediaError naming the errno; later syncs are tried again', async () => {
  if (!available()) return;
  const fd = fs.openSync('/dev/null', 'r'); // (fdatasync: EINVAL)
  const s = FileSyncer.open(fd)!;
  try {
    const rs = await Promise.allSettled([s.sync(), s.sync(), s.sync()]);
    for (const r of rs) {
      assert.is(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as MediaError;
      assert.ok(e instanceof MediaError, 'a MediaError');
      assert.is(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, /EINVAL/);
    }
    await s.sync().then(() => assert.unreachable('synced /dev/null'), (e: MediaError) => assert.is(e.code, 'INVALID_ARGUMENT'));
  } finally {
    s.close();
    fs.closeSync(fd);
  }
});

t('close: the requests already made are answered, a new one is refused (IO_ERROR), close twice is a no-op', async () => {
  if (!available()) return;
  const fd = fs.openSync(path.join(tmp, 'close.dat'), 'w+');
  const s = FileSyncer.open(fd)!;
  try {
    const ps = Array.from({ length: 20 }, () => s.sync());
    s.close();
    s.close();
    await Promise.all(ps);
    await s.sync().then(() => assert.unreachable('a sync after close'), (e: MediaError) => { assert.ok(e instanceof MediaError); assert.is(e.code, 'IO_ERROR'); });
  } finally {
    fs.closeSync(fd);
  }
});

t('the addon refuses what is not a syncer or a descriptor (TypeError), and open answers undefined for a closed descriptor', () => {
  const a = nativeAddon();
  if (!a?.syncerOpen || !a.syncerRequest) return;
  assert.throws(() => a.syncerRequest!({} as never), (e: Error) => e instanceof TypeError);
  assert.throws(() => a.syncerOpen!([-1], () => {}), (e: Error) => e instanceof TypeError);
  assert.throws(() => a.syncerOpen!(0 as never, () => {}), (e: Error) => e instanceof TypeError, 'descriptors come as an array');
  assert.throws(() => a.syncerOpen!([0], 5 as never), (e: Error) => e instanceof TypeError);
  const fd = fs.openSync(path.join(tmp, 'gone.dat'), 'w+');
  fs.closeSync(fd);
  assert.is(FileSyncer.open(fd), undefined, 'a closed descriptor: no syncer (dup fails)');
});

t('the addon answers generations in order, the last one covering the last request of a burst', async () => {
  const a = nativeAddon();
  if (!a?.syncerOpen || !a.syncerRequest || !a.syncerClose || !a.syncerIdle) return;
  const fd = fs.openSync(path.join(tmp, 'gens.dat'), 'w+');
  const answers: number[] = [];
  let wake: (() => void) | undefined;
  const h = a.syncerOpen([fd], (gen, errno) => { assert.is(errno, 0); answers.push(gen); wake?.(); })!;
  const until = async (gen: number) => { while (answers.length === 0 || answers[answers.length - 1]! < gen) await new Promise<void>((r) => { wake = r; }); };
  try {
    const g1 = a.syncerRequest(h);
    assert.is(g1, 1);
    await until(g1);
    assert.equal(answers, [1]);
    const gs = Array.from({ length: 50 }, () => a.syncerRequest!(h));
    assert.equal(gs, Array.from({ length: 50 }, (_, i) => i + 2), 'generations count up');
    await until(51);
    for (let i = 1; i < answers.length; i++) assert.ok(answers[i]! > answers[i - 1]!, 'answered in order, each a newer generation');
    assert.is(answers[answers.length - 1], 51, 'the last sync covers the last request');
    assert.ok(answers.length < 51, `${answers.length - 1} syncs for 50 requests`);
  } finally {
    a.syncerIdle(h);
    a.syncerClose(h);
    fs.closeSync(fd);
  }
});

t('several descriptors: a thread each, every request answered by a sync that covers it, fewer syncs than requests in a burst', async () => {
  if (!available()) return;
  const file = path.join(tmp, 'threads.dat');
  const fd = fs.openSync(file, 'w+');
  const own = [fs.openSync(file, 'r+'), fs.openSync(file, 'r+')];
  const s = FileSyncer.open(own)!;
  for (const d of own) fs.closeSync(d); // (the syncer syncs duplicates of its own)
  assert.ok(s, 'made');
  await burstsShareSyncs(s, fd);
});

t('several descriptors: a failing fdatasync rejects what it covered on whichever thread ran it', async () => {
  if (!available()) return;
  const own = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
  const s = FileSyncer.open(own)!;
  try {
    const rs = await Promise.allSettled(Array.from({ length: 30 }, () => s.sync()));
    for (const r of rs) {
      assert.is(r.status, 'rejected');
      assert.is(((r as PromiseRejectedResult).reason as MediaError).code, 'INVALID_ARGUMENT');
    }
  } finally {
    s.close();
    for (const d of own) fs.closeSync(d);
  }
});

t('several descriptors: between 1 and SYNCER_MAX_THREADS (else no syncer; the addon: RangeError), and close answers what was asked', async () => {
  if (!available()) return;
  const file = path.join(tmp, 'counts.dat');
  const fd = fs.openSync(file, 'w+');
  try {
    assert.is(FileSyncer.open([]), undefined);
    assert.is(FileSyncer.open(Array.from({ length: SYNCER_MAX_THREADS + 1 }, () => fd)), undefined);
    assert.throws(() => nativeAddon()!.syncerOpen!([], () => {}), (e: Error) => e instanceof RangeError);
    assert.throws(() => nativeAddon()!.syncerOpen!([fd, -1], () => {}), (e: Error) => e instanceof TypeError);
    const s = FileSyncer.open(Array.from({ length: SYNCER_MAX_THREADS }, () => fs.openSync(file, 'r+')))!;
    assert.ok(s, `${SYNCER_MAX_THREADS} descriptors`);
    const ps = Array.from({ length: 40 }, () => s.sync());
    s.close();
    await Promise.all(ps);
    await s.sync().then(() => assert.unreachable('a sync after close'), (e: MediaError) => assert.is(e.code, 'IO_ERROR'));
  } finally {
    fs.closeSync(fd);
  }
});

t('the addon with several threads answers every request with a generation at or past it, the newest answer the last request', async () => {
  const a = nativeAddon();
  if (!a?.syncerOpen || !a.syncerRequest || !a.syncerClose || !a.syncerIdle) return;
  const file = path.join(tmp, 'gens2.dat');
  const fds = [fs.openSync(file, 'w+'), fs.openSync(file, 'r+')];
  const answers: number[] = [];
  let wake: (() => void) | undefined;
  const h = a.syncerOpen(fds, (gen, errno) => { assert.is(errno, 0); answers.push(gen); wake?.(); })!;
  const until = async (gen: number) => { while (answers.length === 0 || Math.max(...answers) < gen) await new Promise<void>((r) => { wake = r; }); };
  try {
    for (let burst = 0; burst < 20; burst++) {
      const gs = Array.from({ length: 10 }, () => a.syncerRequest!(h));
      await until(gs[gs.length - 1]!);
    }
    assert.is(Math.max(...answers), 200, 'the last sync covers the last request');
    assert.is(new Set(answers).size, answers.length, 'each answer names the newest request its sync started after: no two alike');
  } finally {
    a.syncerIdle(h);
    a.syncerClose(h);
    for (const d of fds) fs.closeSync(d);
  }
});

t('requests made one at a time, each after the last was answered (the threads asleep between them), are each answered: one thread and four', async () => {
  if (!available()) return;
  for (const threads of [1, SYNCER_MAX_THREADS]) {
    const file = path.join(tmp, `one-by-one-${threads}.dat`);
    const fds = Array.from({ length: threads }, () => fs.openSync(file, 'a+'));
    const s = FileSyncer.open(fds)!;
    assert.ok(s, 'made');
    try {
      for (let i = 0; i < 400; i++) {
        fs.writeSync(fds[0]!, Buffer.from(`${i}\n`));
        // (a request whose wake-up was lost would wait for the next request, which never comes)
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`request ${i} of ${threads} thread(s) not answered within 10 s`)), 10_000); });
        try { await Promise.race([s.sync(), late]); } finally { clearTimeout(timer); }
      }
      assert.ok(s.syncs >= 400, `a lone request gets a sync of its own (${s.syncs} for 400)`);
    } finally {
      s.close();
      for (const d of fds) fs.closeSync(d);
    }
  }
});

t.run();
