/**
 * Space (issue 13): a pool on a 16 MiB filesystem gets NO_SPACE, never SIGBUS. Each case runs the
 * pool in a child process (integrity-space-child.ts), so a SIGBUS from a store into an unbacked
 * page of a mapped file kills only the child and shows here as its signal.
 *
 * The filesystem is a real 16 MiB tmpfs (`mount -t tmpfs`, needs root with CAP_SYS_ADMIN). Where
 * that is refused, a 16 MiB ext4 image on a loop device is tried; when neither can be mounted the
 * cases are skipped with a message saying why (every other assertion still runs where possible).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { safe } from '../vos/safe.js';

const test = suite('pool integrity: a full filesystem');
const CHILD = new URL('./integrity-space-child.ts', import.meta.url).pathname;
/** Size of the small filesystem. */
const FS_BYTES = 16 << 20;
/** Longest a child may run. */
const CHILD_TIMEOUT_MS = 120_000;

/** A mounted small filesystem, or why none could be mounted. */
interface Mounted { dir: string; kind: 'tmpfs' | 'ext4 on a loop device'; unmount(): void }

function mountSmall(): Mounted | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-smallfs-'));
  const t = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_BYTES}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (t.status === 0) return { dir, kind: 'tmpfs', unmount: () => { spawnSync('umount', [dir]); fs.rmSync(dir, { recursive: true, force: true }); } };
  const whyTmpfs = (t.stderr || t.error?.message || `exit ${t.status}`).trim();
  // the closest real alternative: a small ext4 image on a loop device
  const img = `${dir}.img`;
  fs.writeFileSync(img, '');
  fs.truncateSync(img, FS_BYTES);
  const mk = spawnSync('mkfs.ext4', ['-q', '-F', img], { encoding: 'utf8' });
  const lo = mk.status === 0 ? spawnSync('mount', ['-o', 'loop', img, dir], { encoding: 'utf8' }) : mk;
  if (lo.status === 0) return { dir, kind: 'ext4 on a loop device', unmount: () => { spawnSync('umount', [dir]); fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(img, { force: true }); } };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(img, { force: true });
  return `mount -t tmpfs: ${whyTmpfs}; loop-mounted ext4: ${(lo.stderr || lo.error?.message || `exit ${lo.status}`).trim()} (both need root with CAP_SYS_ADMIN)`;
}

/** Run the child on a fresh small filesystem; its parsed RESULT line (asserting it died of no signal). */
function onSmallFs(label: string, args: string[]): Record<string, unknown> | undefined {
  const m = mountSmall();
  if (typeof m === 'string') {
    console.log(`  SKIPPED (${label}): no small filesystem can be mounted here: ${m}`);
    return undefined;
  }
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path.join(m.dir, 'pool'), ...args], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
    const out = `${r.stdout}${r.stderr}`;
    assert.is(r.signal, null, `${label} on ${m.kind}: the process died of ${r.signal}: ${out.slice(-800)}`);
    assert.is(r.status, 0, `${label} on ${m.kind}: exit ${r.status}: ${out.slice(-800)}`);
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `${label}: a result line: ${out.slice(-800)}`);
    return JSON.parse(line!.slice(7)) as Record<string, unknown>;
  } finally { m.unmount(); }
}

const noSpace = (s: unknown) => typeof s === 'string' && s.startsWith('NO_SPACE: ');

test('the control: a sparse file mapped on the full filesystem does die of SIGBUS (what the pool must never do)', safe(() => {
  const m = mountSmall();
  if (typeof m === 'string') { console.log(`  SKIPPED (control): ${m}`); return; }
  try {
    const src = `import fs from 'node:fs'; import { createRequire } from 'node:module';
      const mm = createRequire(import.meta.url)('@riaskov/mmap-io');
      try { fs.writeFileSync(${JSON.stringify(path.join(m.dir, 'filler'))}, new Uint8Array(${FS_BYTES})); } catch { /* full */ }
      const fd = fs.openSync(${JSON.stringify(path.join(m.dir, 'sparse'))}, 'w+');
      fs.ftruncateSync(fd, 8 << 20);
      const b = mm.map(8 << 20, mm.PROT_READ | mm.PROT_WRITE, mm.MAP_SHARED, fd, 0);
      for (let off = 0; off < b.length; off += 4096) b[off] = 1;
      console.log('SURVIVED');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { cwd: path.dirname(CHILD), encoding: 'utf8', timeout: CHILD_TIMEOUT_MS });
    assert.is(r.signal, 'SIGBUS', `on ${m.kind}: ${r.signal ?? r.status}: ${r.stdout}${r.stderr}`);
  } finally { m.unmount(); }
}));

test('Pool.create of 16 targets with scmBytes 64 MiB on a 16 MiB filesystem: NO_SPACE, nothing left behind', safe(() => {
  const r = onSmallFs('create16', ['create16']);
  if (!r) return;
  assert.ok(noSpace(r.create) || (r.create === 'ok' && noSpace(r.write)), `NO_SPACE at create (or, had it fitted, on the writes): ${JSON.stringify(r)}`);
  if (r.create !== 'ok') assert.is(r.left, null, `the failed create removed the pool directory it made: ${JSON.stringify(r.left)}`);
}));

for (const kind of ['small', 'large'] as const) {
  const what = kind === 'small' ? 'inline single values (the metadata files grow)' : '48 KiB array extents (vos.data fills)';
  test(`a pool filled with ${what} until the filesystem is full: NO_SPACE; every acknowledged write reads back, also after reopening; writable again once space is freed`, safe(() => {
    const r = onSmallFs(`fill ${kind}`, ['fill', kind]);
    if (!r) return;
    const all = JSON.stringify(r);
    assert.ok(noSpace(r.fill), `the fill ends with NO_SPACE: ${all}`);
    assert.ok((r.acked as number) > 10, `writes were acknowledged before the filesystem filled: ${all}`);
    assert.ok((r.again as unknown[]).every(noSpace), `the next writes are refused with NO_SPACE too (never a raw error): ${all}`);
    assert.is(r.afterFree, 'ok', `writes work again once space is freed: ${all}`);
    assert.is(r.badReads, 0, `every acknowledged write reads back: ${all}`);
    assert.is(r.close, 'ok', `the full pool closes: ${all}`);
    assert.is(r.reopen, 'ok', `and reopens: ${all}`);
    assert.is(r.badReadsAfterReopen, 0, `every acknowledged write reads back after reopening: ${all}`);
  }));
}

test.run();
