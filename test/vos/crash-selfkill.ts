/**
 * Seeded self-kill for the crash child (CAIRN_VOS_CRASH_SELFKILL=<seed>): the child SIGKILLs
 * itself at a chosen write to its pmem file: before it, after it, or inside it (a prefix of the
 * bytes landed, as a kill during a store into the mapping leaves it). A kill from the parent lands
 * wherever the child happens to be; this one reaches every file state a crash can leave, the
 * rare ones too (a torn superblock, a manifest written but not committed, a region header
 * without its tail slot), in a few rounds instead of thousands. Test-only: it wraps the methods
 * of one `PmemSpace` instance; the store's code is unchanged.
 */
import type { PmemSpace } from '../../src/media/pmem-space.js';
import { Rng } from '../../core/rng.js';
import { SB_SLOT_BYTES, TAIL_SLOTS_OFFSET } from '../../src/vos/manifest.js';

/** Classes of pmem writes a kill point is chosen among. */
export type WriteClass = 'superblock' | 'tail' | 'log' | 'pwrite' | 'zero';
/** Where, relative to the chosen write, the child dies. */
export type KillPlace = 'before' | 'torn' | 'after';

/** What `installSelfKill` chose (printed by the child as `SELFKILL ...` so the parent can report it). */
export interface SelfKillPlan { cls: WriteClass; nth: number; place: KillPlace; tornAt?: number }

/** Choose a kill point from `seed`: a class of writes, which one of them, and where in it. */
export function planSelfKill(seed: number): SelfKillPlan {
  const rng = new Rng(seed);
  const cls = rng.pick(['superblock', 'superblock', 'tail', 'log', 'pwrite', 'pwrite', 'zero'] as const);
  const nth = cls === 'superblock' ? rng.range(1, 8) : cls === 'zero' ? rng.range(1, 3) : cls === 'pwrite' ? rng.range(1, 20) : rng.range(50, 3000);
  return { cls, nth, place: rng.pick(['before', 'torn', 'after'] as const) };
}

function classOf(off: number, viaPwrite: boolean): WriteClass {
  if (viaPwrite) return 'pwrite';
  if (off < 2 * SB_SLOT_BYTES) return 'superblock';
  if (off >= TAIL_SLOTS_OFFSET && off < TAIL_SLOTS_OFFSET + SB_SLOT_BYTES) return 'tail';
  return 'log';
}

/**
 * Wrap `space`'s writes so the process kills itself at `plan`'s write. `say` prints a line to the
 * parent first (synchronous on a pipe). Returns nothing: the process does not come back from it.
 */
export function installSelfKill(space: PmemSpace, plan: SelfKillPlan, seed: number, say: (line: string) => void): void {
  const rng = new Rng(seed ^ 0x5eed);
  const seen: Record<WriteClass, number> = { superblock: 0, tail: 0, log: 0, pwrite: 0, zero: 0 };
  const die = (what: string): never => {
    say(`SELFKILL ${plan.cls} ${plan.nth} ${plan.place} ${what}`);
    process.kill(process.pid, 'SIGKILL');
    for (;;) { /* the signal is delivered before this returns */ }
  };
  const wrap = (name: 'write' | 'pwrite' | 'zero') => {
    const orig = (space[name] as (off: number, x: Uint8Array | number) => void).bind(space);
    (space as unknown as Record<string, unknown>)[name] = (off: number, x: Uint8Array | number) => {
      const cls = name === 'zero' ? 'zero' : classOf(off, name === 'pwrite');
      if (cls !== plan.cls || ++seen[cls] !== plan.nth) return orig(off, x);
      if (plan.place === 'before') die(`at ${off}`);
      if (plan.place === 'torn' && typeof x !== 'number' && x.length > 1) {
        const n = 1 + rng.int(x.length - 1);
        orig(off, x.subarray(0, n));
        die(`at ${off}, ${n} of ${x.length} bytes landed`);
      }
      if (plan.place === 'torn' && typeof x === 'number' && x > 1) {
        const n = 1 + rng.int(x - 1);
        orig(off, n);
        die(`at ${off}, ${n} of ${x} bytes zeroed`);
      }
      orig(off, x);
      die(`at ${off}, after`);
    };
  };
  wrap('write'); wrap('pwrite'); wrap('zero');
}

/**
 * Widen timing windows (CAIRN_VOS_CRASH_DELAY=<maxMs>): every merge-worker job's answer and every
 * asynchronous data-file write or sync is held back a seeded 0..maxMs, as a loaded machine does to
 * low-priority workers and the thread pool, so flush and merge commits land later relative to the
 * writes going on meanwhile. Test-only: wraps methods of the instances it is given.
 */
export function installDelays(workers: { run: (...a: never[]) => Promise<unknown> } | undefined, dev: object, maxMs: number, seed: number): void {
  const rng = new Rng(seed ^ 0xde1a);
  const later = <T>(p: Promise<T>): Promise<T> => p.then((v) => new Promise<T>((r) => setTimeout(() => r(v), rng.int(maxMs + 1))), (e) => new Promise<T>((_r, j) => setTimeout(() => j(e), rng.int(maxMs + 1))));
  if (workers) {
    const run = workers.run.bind(workers) as (...a: unknown[]) => Promise<unknown>;
    (workers as { run: unknown }).run = (...a: unknown[]) => later(run(...a));
  }
  for (const name of ['writeFromHashed', 'writeFrom', 'write', 'sync']) {
    const d = dev as Record<string, unknown>;
    if (typeof d[name] !== 'function') continue;
    const orig = (d[name] as (...a: unknown[]) => Promise<unknown>).bind(dev);
    d[name] = (...a: unknown[]) => later(orig(...a));
  }
}
