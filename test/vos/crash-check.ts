/**
 * The crash test's parts shared with its stress harness (test/vos/crash-stress.ts): run the child
 * until it is killed, fold its output into what was acknowledged, check a reopened target against
 * it, and, when a check fails, describe what the crash image held for the key (its versions and
 * punches in the log, the memtables replayed from it and every run), so a rare failure can be
 * reasoned about from the files instead of rerun.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { VosTarget, MAX_EPOCH } from '../../src/vos/index.js';
import { decodeKey } from '../../src/vos/keys.js';
import { decodeVersion, runEntries } from '../../src/vos/merge.js';
import type { Memtable } from '../../src/vos/memtable.js';
import { CRASH_ARRAY_LEN, CRASH_KEYS, CRASH_KINDS, CRASH_OPTS, crashValue, embeddedEpoch } from './crash-common.js';
import { collect, dec, enc } from './helpers.js';

const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
/** Smallest log record (bounds how many records a replay of two regions can hold). */
const MIN_RECORD_BYTES = 48;
/** A child that is never killed by its trigger is killed this long after the trigger's delay. */
const CHILD_GUARD_MS = 20_000;

/** Where the parent kills the child: after READY, or after it announced a flush or a merge. */
export type KillAt = 'random' | 'flush' | 'merge';

/** What the parent learned from every child so far. */
export interface CrashLedger {
  /** Newest acknowledged update per kind/key. */
  acked: Map<string, bigint>;
  /** Newest acknowledged punch per kind/key. */
  punchAcked: Map<string, bigint>;
  /** Every punch issued (acknowledged or not) per kind/key. */
  punchIssued: Map<string, bigint[]>;
  totalAcks: number;
}

export function newLedger(): CrashLedger { return { acked: new Map(), punchAcked: new Map(), punchIssued: new Map(), totalAcks: 0 }; }

/**
 * Run the child until killed; returns the lines of its ledger file (every line it wrote, the last
 * one dropped if cut) and whether the kill landed inside a flush or merge. Its stdout only times
 * the kill (see crash-child.ts: lines on a pipe can die queued in the child; `stdout` is what came
 * through it). `env`: extra environment for the child (debug hooks); `stall`: stop reading its
 * stdout once the kill is armed, as a parent starved of CPU does.
 */
export function runChild(dir: string, seed: number, io: string, durable: boolean, at: KillAt, delayMs: number, env: Record<string, string> = {}, stall = false): Promise<{ lines: string[]; inside: Array<'flush' | 'merge'>; stderr: string; stdout: string }> {
  const ledgerPath = `${dir}.ledger`;
  fs.rmSync(ledgerPath, { force: true });
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dir, String(seed), io, durable ? '1' : '0', ledgerPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = ''; let err = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => { if (!timer) { timer = setTimeout(() => { p.kill('SIGKILL'); p.stdout.resume(); }, delayMs); if (stall) p.stdout.pause(); } };
    p.stdout.on('data', (d: Buffer) => {
      const armed = timer !== undefined;
      out += d.toString('latin1');
      if (armed) return;
      if (at === 'random' && out.includes('READY\n')) arm();
      if (at === 'flush' && out.includes('FLUSHING\n')) arm();
      if (at === 'merge' && out.includes('MERGING\n')) arm();
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => p.kill('SIGKILL'), delayMs + CHILD_GUARD_MS);
    p.on('close', (code, signal) => {
      clearTimeout(guard); if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') { fs.rmSync(ledgerPath, { force: true }); reject(new Error(`child exited on its own (code ${code}): ${err.slice(0, 2000)}`)); return; }
      let text = '';
      try { text = fs.readFileSync(ledgerPath, 'latin1'); } catch (e) {
        // killed (by the guard) before it opened its ledger, i.e. before it wrote anything
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { reject(e); return; }
      }
      fs.rmSync(ledgerPath, { force: true });
      const lines = text.split('\n');
      lines.pop(); // the last line may be cut by the kill
      const last = (s: string) => lines.lastIndexOf(s);
      // (flushes and merges run on worker threads, and may overlap)
      const inside = [...(last('FLUSHING') > last('FLUSHED') ? ['flush' as const] : []), ...(last('MERGING') > last('MERGED') ? ['merge' as const] : [])];
      resolve({ lines, inside, stderr: err, stdout: out });
    });
  });
}

/** Fold a child's output lines into the ledger. */
export function record(ledger: CrashLedger, lines: readonly string[]): void {
  for (const l of lines) {
    const m = /^(ACK|PUNCH|PACK) (\w+) (\d+) (\d+)$/.exec(l);
    if (!m) continue;
    const key = `${m[2]}/${m[3]}`; const e = BigInt(m[4]!);
    const bump = (map: Map<string, bigint>) => { if ((map.get(key) ?? 0n) < e) map.set(key, e); };
    if (m[1] === 'ACK') { bump(ledger.acked); ledger.totalAcks++; } else if (m[1] === 'PACK') bump(ledger.punchAcked);
    else ledger.punchIssued.set(key, [...(ledger.punchIssued.get(key) ?? []), e]);
  }
}

/** A check that failed: the assertion, and the kind/key it is about (when it names one). */
export class CrashCheckFailure extends Error {
  constructor(message: string, readonly id: string | undefined, options?: { cause?: unknown }) { super(message, options); }
}

/**
 * Check reopened target `t` against the ledger: every acknowledged update is read back (or a
 * later one, whole), an acknowledged punch hides what is older, the listing agrees with the reads,
 * nothing is damaged and scrub finds nothing. Throws `CrashCheckFailure` naming the key.
 */
export async function checkTarget(t: VosTarget, ledger: CrashLedger, where: string): Promise<void> {
  let id: string | undefined;
  try {
    assert.is(t.openReport.damage, undefined, `${where}: a crash is not damage`);
    assert.ok(t.openReport.records <= (2 * CRASH_OPTS.walBytes) / MIN_RECORD_BYTES, `${where}: replayed ${t.openReport.records} records`);
    const visible = new Set<string>();
    for (const kind of CRASH_KINDS) {
      for (let key = 0; key < CRASH_KEYS; key++) {
        id = `${kind}/${key}`;
        const want = ledger.acked.get(id);
        const dkey = enc(`k${key}`);
        let got: Uint8Array | undefined;
        if (kind === 'array') {
          const r = await t.fetchArray(MAX_EPOCH, 1n, dkey, enc('array'), { index: 0, count: CRASH_ARRAY_LEN });
          got = r.present.length ? r.data : undefined;
          if (got) assert.equal(r.present, [{ index: 0, count: CRASH_ARRAY_LEN }], `${where} ${id}: the whole extent or nothing`);
        } else {
          got = await t.fetchSingle(MAX_EPOCH, 1n, dkey, enc(kind));
        }
        if (got) {
          visible.add(`k${key}`);
          const e = embeddedEpoch(got);
          assert.ok(want === undefined || e >= want, `${where}: ${id} went back from ${want} to ${e}`);
          assert.ok(e > (ledger.punchAcked.get(id) ?? 0n), `${where}: ${id}@${e} shows through an acknowledged punch at ${ledger.punchAcked.get(id)}`);
          assert.ok(Buffer.from(got).equals(Buffer.from(crashValue(kind, key, e))), `${where}: ${id}@${e} bytes intact`);
        } else if (want !== undefined) {
          const hidden = (ledger.punchIssued.get(id) ?? []).some((p) => p > want);
          assert.ok(hidden, `${where}: acknowledged ${id}@${want} lost`);
        }
      }
    }
    id = undefined;
    const listed = (await collect(t.listDkeys(MAX_EPOCH, 1n))).map(dec);
    assert.equal(listed.sort(), [...visible].sort(), `${where}: the listing agrees with the reads`);
    assert.equal((await t.scrub()).bad, [], `${where}: scrub clean`);
  } catch (e) {
    throw new CrashCheckFailure((e as Error).message, id, { cause: e });
  }
}

/**
 * What crash image `dir` holds for `id` (kind/key), opened read-only (no recovery: the log is
 * replayed into memory only): the superblock's log generations, the replayed records' versions and
 * punches of the key, and every run's entries for it, with the ledger's view of the key.
 */
export async function describeKey(dir: string, id: string, ledger: CrashLedger): Promise<string> {
  const [kind, keyNo] = id.split('/') as [string, string];
  const dkey = Buffer.from(`k${keyNo}`); const akey = Buffer.from(kind);
  const out: string[] = [`image ${dir}, key ${id}: acked ${ledger.acked.get(id)}, punch acked ${ledger.punchAcked.get(id)}, punches issued ${(ledger.punchIssued.get(id) ?? []).join(',')}`];
  let t: VosTarget;
  try { t = await VosTarget.open(dir, { ...CRASH_OPTS, readOnly: true }); } catch (e) { return `${out[0]}\n  read-only open failed: ${(e as Error).message}`; }
  try {
    const ts = t.target as unknown as { sb: { gen: number; walFlushedGen: number }; wal: { activeGen: number; frozenGen?: number }; runs: Array<{ meta: { id: number; level: number; chunks: number[]; bytes: number; punches: number } }> };
    out.push(`  superblock gen ${ts.sb.gen}, walFlushedGen ${ts.sb.walFlushedGen}; log activeGen ${ts.wal.activeGen}, frozenGen ${ts.wal.frozenGen}; replayed ${t.openReport.records} records${t.openReport.tornAt !== undefined ? `, torn at ${t.openReport.tornAt}` : ''}`);
    const mem = (name: string, mt: Memtable | undefined) => {
      if (!mt) return;
      for (const mc of mt.conts.values()) for (const o of mc.objects.values()) {
        for (const p of o.punches) out.push(`  ${name} (gen ${mt.gen}): object punch @${p.epoch} seq ${p.seq}`);
        for (const d of o.dkeys.values()) {
          if (!dkey.equals(d.key)) continue;
          for (const p of d.punches) out.push(`  ${name} (gen ${mt.gen}): dkey punch @${p.epoch} seq ${p.seq}`);
          for (const a of d.akeys.values()) {
            if (!akey.equals(a.key)) continue;
            for (const p of a.punches) out.push(`  ${name} (gen ${mt.gen}): akey punch @${p.epoch} seq ${p.seq}`);
            for (const v of [...a.singles, ...a.extents]) out.push(`  ${name} (gen ${mt.gen}): version @${v.epoch} seq ${v.seq} where ${v.where} loc ${v.loc} len ${v.len}`);
          }
        }
      }
    };
    mem('log (replayed)', t.target.active);
    mem('log (frozen)', t.target.frozen);
    for (const r of ts.runs) {
      out.push(`  run ${r.meta.id} level ${r.meta.level} chunks ${r.meta.chunks.join(',')} bytes ${r.meta.bytes} punches ${r.meta.punches}`);
      try {
        for (const e of runEntries(r as never)) {
          const k = decodeKey(e.key);
          if (!k || !k.dkey || !dkey.equals(k.dkey)) continue;
          if (k.akey && !akey.equals(k.akey)) continue;
          const v = k.kind === 'single' || k.kind === 'array' ? decodeVersion(e.value, k.epoch, k.seq, false) : undefined;
          out.push(`    ${k.kind} @${k.epoch} seq ${k.seq}${v ? ` where ${v.where} loc ${v.loc} len ${v.len}` : ''}`);
        }
      } catch (e) { out.push(`    run unreadable: ${(e as Error).message}`); }
    }
  } finally { await t.close(); }
  return out.join('\n');
}

/**
 * The metadata of a killed child's target, copied before the reopen recovers (rewrites) it: the
 * pmem file whole, the data file as an empty sparse file of its size (describeKey reads keys and
 * version headers, never values; the recovered directory keeps them). No process has the target
 * open, so the copy is the crash image.
 */
export function metaImage(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  fs.copyFileSync(path.join(from, 'vos.scm'), path.join(to, 'vos.scm'));
  fs.writeFileSync(path.join(to, 'vos.data'), '');
  fs.truncateSync(path.join(to, 'vos.data'), fs.statSync(path.join(from, 'vos.data')).size);
}

/** The label of a round in failure messages. */
export function roundLabel(round: number, at: KillAt, inside: readonly string[], io: string, durable: boolean): string {
  return `round ${round} (${at}${inside.length ? `, inside a ${inside.join(' and a ')}` : ''}, ${io}${durable ? ', durable' : ''})`;
}

/** Where a failing round's images are kept (CAIRN_VOS_CRASH_KEEP, else next to the test's temp dir). */
export function keepDir(dir: string): string {
  return process.env.CAIRN_VOS_CRASH_KEEP ?? `${dir}-kept`;
}

