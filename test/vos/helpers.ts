/** Small helpers shared by the store's tests: temp dirs, typed-error codes, crash images. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CairnError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { ContainerStore, VosTarget } from '../../src/vos/index.js';
import type { RunSpace } from '../../src/vos/run.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

/**
 * `n` single values written to objects base..base+n-1 of `c` at `epoch` (dkey 'd', akey 'a', value
 * `tag` + index), at most 64 in flight.
 */
export async function writeSingles(c: ContainerStore, base: number, n: number, epoch: bigint, tag: string): Promise<void> {
  const D = enc('d'), A = enc('a');
  const ps: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    ps.push(c.updateSingle(epoch, BigInt(base + i), D, A, enc(`${tag}${i}`)));
    if (ps.length >= 64) { await Promise.all(ps); ps.length = 0; }
  }
  await Promise.all(ps);
}

/** A fresh temp directory. */
export function tmpDir(tag: string): string { return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-vos-${tag}-`)); }

/** The `code` a call or promise fails with (undefined when it succeeds). */
export async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { return (e as CairnError).code ?? `untyped: ${String(e)}`; }
  return undefined;
}

/** The error a call or promise fails with (undefined when it succeeds). */
export async function failure(p: Promise<unknown> | (() => unknown)): Promise<CairnError | undefined> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { return e as CairnError; }
  return undefined;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> { const out: T[] = []; for await (const x of it) out.push(x); return out; }

/**
 * A crash image: copies of a target's files as they are *now*, while it is open. Every store into
 * the mapping is in the page cache when it returns, so the copies hold exactly what a process
 * killed at this moment would leave. The data file is copied sparsely (only non-zero 64 KiB pieces).
 */
export function crashImage(srcDir: string, dstDir: string): void {
  fs.mkdirSync(dstDir, { recursive: true });
  fs.copyFileSync(path.join(srcDir, 'vos.scm'), path.join(dstDir, 'vos.scm'));
  const src = fs.openSync(path.join(srcDir, 'vos.data'), 'r');
  const dst = fs.openSync(path.join(dstDir, 'vos.data'), 'w');
  try {
    const size = fs.fstatSync(src).size;
    const buf = Buffer.alloc(64 * 1024);
    for (let off = 0; off < size; off += buf.length) {
      const n = fs.readSync(src, buf, 0, buf.length, off);
      if (n > 0 && buf.subarray(0, n).some((x) => x !== 0)) fs.writeSync(dst, buf, 0, n, off);
    }
    fs.ftruncateSync(dst, size);
  } finally { fs.closeSync(src); fs.closeSync(dst); }
}

/** XOR `mask` into the byte at `offset` of `file`. */
export function flip(file: string, offset: number, mask = 0x10): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ mask;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally { fs.closeSync(fd); }
}

/** Fill `t` with seeded random writes and punches over a few objects; returns the epochs used. */
export async function fillRandom(t: VosTarget, seed: number, ops: number): Promise<bigint> {
  const rng = new Rng(seed);
  let epoch = 0n;
  for (let i = 0; i < ops; i++) {
    epoch += 1n;
    const oid = BigInt(1 + rng.int(3));
    const dkey = enc(`d${rng.int(6)}`);
    const akey = enc(`a${rng.int(3)}`);
    const r = rng.int(100);
    if (r < 35) {
      // A single value whose bytes name the epoch it was written at (some large enough for the data file).
      const big = rng.int(4) === 0;
      const text = `v@${epoch}`;
      const v = big ? new Uint8Array(5000).fill(0x61) : enc(text);
      if (big) v.set(enc(text + ';'));
      await t.updateSingle(epoch, oid, dkey, enc(`s${rng.int(3)}`), v);
    } else if (r < 85) {
      const index = rng.int(20000);
      const count = 1 + rng.int(rng.int(3) === 0 ? 9000 : 300);
      await t.updateArray(epoch, oid, dkey, akey, { index, count }, new Rng(Number(epoch)).bytes(count));
    } else if (r < 92) {
      await t.punchAkey(epoch, oid, dkey, akey);
    } else if (r < 97) {
      await t.punchDkey(epoch, oid, dkey);
    } else {
      await t.punchObject(epoch, oid);
    }
  }
  return epoch;
}

/** A run space in memory (chunks of 256 KiB carved from one buffer): run tests without a pmem file. */
export function memSpace(bytes: number): RunSpace & { chunkBytes: number; allocChunk(): number; buf: Uint8Array } {
  const buf = new Uint8Array(bytes);
  let next = 0;
  return {
    buf,
    chunkBytes: 256 * 1024,
    allocChunk() { const at = next; next += 256 * 1024; if (next > bytes) throw new Error('test space full'); return at; },
    pread: (off, len) => buf.slice(off, off + len),
    pwrite: (off, data) => { buf.set(data, off); },
  };
}
