import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The benchmark runner end to end on the `scale` suite with a tiny memory guard: the Cairn case is
 * stopped and recorded as `aborted` while the peers finish, rows carry peer and ratio in the JSON,
 * temporary directories are gone afterwards; and SIGTERM mid-run removes them and its children.
 */
const test = suite('bench/scale-guard');
const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * 50,000 objects: the peers stay near 150 MiB RSS. Cairn's own store now stays near them too (the
 * guard once stopped it on its own: CI of 2026-12-02 saw it pass under), so its write phase is told to
 * hold 200 MiB of ballast: whatever the store uses, a 250 MiB guard stops Cairn only.
 */
const OBJECTS = 50_000;
const GUARD_MIB = 250;
const CAIRN_BALLAST_MIB = 200;

interface Row { name: string; peer?: string; ratio?: number; aborted?: string; opsPerSecond?: number; seconds?: number; rssBytes?: number; extra?: Record<string, unknown> }

function runBench(env: Record<string, string>): { child: ReturnType<typeof spawn>; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'scale'], {
    cwd: root, env: { ...process.env, CAIRN_BENCH_QUICK: '1', CAIRN_SCALE_OBJECTS: String(OBJECTS), CAIRN_SCALE_RSS_GUARD_MIB: String(GUARD_MIB), CAIRN_SCALE_CAIRN_BALLAST_MIB: String(CAIRN_BALLAST_MIB), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((res) => child.on('close', (code) => res({ code, out })));
  return { child, done };
}

/** Processes whose command line mentions `needle`. */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) pids.push(Number(p)); } catch { /* gone */ }
  }
  return pids;
}

test('memory guard stops the Cairn case; peers complete; JSON has peer, ratio, aborted; temp dirs removed', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-test-scale-'));
  try {
    const benchDir = path.join(work, 'tmp'); fs.mkdirSync(benchDir);
    const outFile = path.join(work, 'out.json');
    const { done } = runBench({ CAIRN_BENCH_DIR: benchDir, CAIRN_BENCH_OUT: outFile });
    const { code, out } = await done;
    assert.is(code, 0, out);
    const json = JSON.parse(fs.readFileSync(outFile, 'utf8')) as { rows: Row[]; failures: unknown[] };
    assert.equal(json.failures, []);
    const by = new Map(json.rows.map((r) => [r.name, r]));
    const cairnPut = by.get('scale 50k: cairn put 100B new objects RP_2G1 16 targets 32 in flight')!;
    assert.ok(cairnPut, 'cairn put row');
    assert.match(cairnPut.aborted ?? '', /memory guard/);
    assert.is(cairnPut.peer, 'scale 50k: classic-level put 100B 32 in flight');
    assert.is(cairnPut.ratio, undefined, 'no ratio for an aborted case');
    for (const peer of ['classic-level put 100B 32 in flight', 'lmdb-js put 100B 32 in flight']) {
      const r = by.get(`scale 50k: ${peer}`)!;
      assert.is(r.aborted, undefined, peer);
      assert.ok(r.opsPerSecond! > 0, peer);
      assert.is((r.extra as { written: number }).written, OBJECTS);
    }
    const lmdbReopen = by.get('scale 50k: lmdb-js reopen + 2000 random reads')!;
    assert.ok(lmdbReopen.seconds! > 0);
    // the guard held: no Cairn phase went far past it (the parent samples every 200 ms)
    for (const r of json.rows.filter((x) => x.name.includes('cairn'))) {
      const peak = (r.extra?.peakRssMiB as number | undefined) ?? 0;
      assert.ok(peak < GUARD_MIB * 2, `${r.name}: peak ${peak} MiB`);
    }
    assert.match(out, 'ABORTED: memory guard');
    assert.equal(fs.readdirSync(benchDir), [], 'temporary directories removed');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('SIGTERM mid-run removes temporary directories and kills the workers', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-test-scale-sig-'));
  try {
    const benchDir = path.join(work, 'tmp'); fs.mkdirSync(benchDir);
    const watcher = fs.watch(benchDir);
    const { child, done } = runBench({ CAIRN_BENCH_DIR: benchDir, CAIRN_BENCH_OUT: path.join(work, 'out.json') });
    // wait (bounded) until the suite has made its temporary directory and a store inside it
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('no temp dir within 60 s')), 60_000);
      watcher.on('change', () => { clearTimeout(t); res(); });
    });
    watcher.close();
    const made = fs.readdirSync(benchDir);
    assert.is(made.length, 1);
    // let a worker start on it, then stop the run
    await new Promise<void>((res) => {
      const sub = fs.watch(path.join(benchDir, made[0]!));
      const t = setTimeout(() => { sub.close(); res(); }, 10_000);
      sub.on('change', () => { clearTimeout(t); sub.close(); res(); });
    });
    child.kill('SIGTERM');
    const { code } = await done;
    assert.is(code, 143);
    assert.equal(fs.readdirSync(benchDir), []);
    assert.equal(processesWith(benchDir), [], 'no worker left running');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test.run();
