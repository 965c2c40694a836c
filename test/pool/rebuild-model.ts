/**
 * Test oracle for the rebuild / rebalance tests: an in-memory model of what a container holds
 * (single values and byte arrays of EC and replicated objects), the writes that keep it in step
 * with a real container, and a full read-back that compares every byte, now or at a snapshot.
 * Objects whose failures exceed their redundancy may be declared lost: their reads must fail with
 * DATA_LOST (never return other bytes); every other object must read back exactly.
 */
import * as assert from 'uvu/assert';
import { readdirSync, statSync, openSync, writeSync, closeSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { Rng } from '../../core/rng.js';

type Cont = Awaited<ReturnType<Pool['createContainer']>>;

/** Array objects are written in chunks of this size (several dkeys, so several groups of stripes). */
export const ARRAY_CHUNK = 64 * 1024;

export interface SingleRec { obj: string; oclass: string; dkey: string; akey: string; value: Uint8Array | undefined }
export interface ArrayRec { name: string; oclass: string; data: Uint8Array }

/** What a container should hold. */
export class Model {
  singles = new Map<string, SingleRec>();
  arrays = new Map<string, ArrayRec>();

  clone(): Model {
    const m = new Model();
    for (const [k, v] of this.singles) m.singles.set(k, { ...v });
    for (const [k, v] of this.arrays) m.arrays.set(k, { ...v, data: v.data.slice() });
    return m;
  }

  /** Every object name with its class. */
  objects(): Array<{ name: string; oclass: string; array: boolean }> {
    const out = new Map<string, { name: string; oclass: string; array: boolean }>();
    for (const s of this.singles.values()) out.set(s.obj, { name: s.obj, oclass: s.oclass, array: false });
    for (const a of this.arrays.values()) out.set(a.name, { name: a.name, oclass: a.oclass, array: true });
    return [...out.values()];
  }

  async put(c: Cont, obj: string, oclass: string, dkey: string, akey: string, value: Uint8Array): Promise<void> {
    await c.object(obj, { oclass }).update(dkey, akey, value);
    this.singles.set(`${obj}/${dkey}/${akey}`, { obj, oclass, dkey, akey, value });
  }

  async punch(c: Cont, obj: string, oclass: string, dkey: string, akey: string): Promise<void> {
    await c.object(obj, { oclass }).punchAkey(dkey, akey);
    this.singles.set(`${obj}/${dkey}/${akey}`, { obj, oclass, dkey, akey, value: undefined });
  }

  async writeArray(c: Cont, name: string, oclass: string, offset: number, data: Uint8Array): Promise<void> {
    await c.array(name, { oclass, chunkSize: ARRAY_CHUNK }).write(offset, data);
    const cur = this.arrays.get(name)?.data ?? new Uint8Array(0);
    const next = new Uint8Array(Math.max(cur.length, offset + data.length));
    next.set(cur);
    next.set(data, offset);
    this.arrays.set(name, { name, oclass, data: next });
  }
}

/** Object names declared lost, and those that must be. */
export interface VerifyOptions { snapshot?: string; mayLose?: Set<string>; mustLose?: Set<string> }

/**
 * Read every value and array of `m` back from `c` and compare. Returns how many values were read
 * and how many failed with DATA_LOST (only allowed for objects in `mayLose` / `mustLose`).
 */
export async function verify(c: Cont, m: Model, opts: VerifyOptions = {}): Promise<{ checked: number; lost: number }> {
  const read = opts.snapshot ? { snapshot: opts.snapshot } : {};
  let checked = 0, lost = 0;
  const check = async (name: string, what: string, get: () => Promise<Uint8Array | undefined>, want: Uint8Array | undefined) => {
    let got: Uint8Array | undefined;
    try {
      got = await get();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'DATA_LOST' && (opts.mayLose?.has(name) || opts.mustLose?.has(name))) { lost++; return; }
      throw new Error(`${what}${opts.snapshot ? ` @${opts.snapshot}` : ''}: read failed with ${code}: ${(err as Error).message}`);
    }
    if (opts.mustLose?.has(name)) assert.unreachable(`${what}: object ${name} should be lost (DATA_LOST) but read ${got ? `${got.length} bytes` : 'nothing'}`);
    checked++;
    if (want === undefined) assert.is(got, undefined, `${what}: punched value reads back`);
    else {
      assert.ok(got !== undefined, `${what}: value missing`);
      assert.ok(Buffer.compare(Buffer.from(got!), Buffer.from(want)) === 0, `${what}: wrong bytes (${got!.length} read, ${want.length} expected)`);
    }
  };
  for (const s of m.singles.values()) {
    await check(s.obj, `${s.obj}/${s.dkey}/${s.akey}`, () => c.object(s.obj, { oclass: s.oclass }).fetch(s.dkey, s.akey, read), s.value);
  }
  for (const a of m.arrays.values()) {
    await check(a.name, `array ${a.name}`, () => c.array(a.name, { oclass: a.oclass, chunkSize: ARRAY_CHUNK }).read(0, a.data.length, read), a.data);
  }
  return { checked, lost };
}

/** Target ids of every shard of an object (all groups). */
export function targetsOf(c: Cont, name: string, oclass: string): number[] {
  const oid = c.object(name, { oclass }).oid;
  return containerPort(c).layout(oid).groups.flat();
}

/** The object id of a named object, as rebuild status `lost` lists it (hex). */
export function oidHex(c: Cont, name: string, oclass: string): string {
  return c.object(name, { oclass }).oid.toString(16);
}

/** Failures an object class survives per group. */
export function tolerance(oclass: string): number {
  const ec = /^EC_(\d+)P(\d+)/.exec(oclass);
  if (ec) return Number(ec[2]);
  const rp = /^RP_(\d+)/.exec(oclass);
  return rp ? Number(rp[1]) - 1 : 0;
}

/**
 * Fill `c` with a fixed-seed mix: `objects` objects alternating EC_4P2G1 and RP_3G1, each with
 * several dkeys x 2 akeys of 1..24 KiB, plus one EC and one replicated byte array.
 */
export async function fill(c: Cont, m: Model, seed: number, objects = 8, arrayBytes = 600 * 1024): Promise<void> {
  const rng = new Rng(seed);
  for (let o = 0; o < objects; o++) {
    const oclass = o % 2 === 0 ? 'EC_4P2G1' : 'RP_3G1';
    for (let d = 0; d < 6; d++) {
      for (const akey of ['a', 'b']) await m.put(c, `obj-${o}`, oclass, `d${d}`, akey, rng.bytes(1 + rng.int(24 * 1024)));
    }
  }
  await m.writeArray(c, 'arr-ec', 'EC_4P2G1', 0, rng.bytes(arrayBytes));
  await m.writeArray(c, 'arr-rp', 'RP_3G1', 0, rng.bytes(arrayBytes / 2));
}

/** Overwrite, punch and partially rewrite: later versions over the filled ones. */
export async function mutate(c: Cont, m: Model, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const keys = [...m.singles.values()];
  for (let i = 0; i < 12; i++) {
    const s = keys[rng.int(keys.length)]!;
    if (rng.chance(0.25)) await m.punch(c, s.obj, s.oclass, s.dkey, s.akey);
    else await m.put(c, s.obj, s.oclass, s.dkey, s.akey, rng.bytes(1 + rng.int(24 * 1024)));
  }
  for (const a of [...m.arrays.values()]) {
    // Unaligned spans that cross cells, stripes and chunks (EC read-modify-write).
    for (let i = 0; i < 3; i++) {
      const off = rng.int(a.data.length + ARRAY_CHUNK);
      await m.writeArray(c, a.name, a.oclass, off, rng.bytes(1 + rng.int(100_000)));
    }
  }
}

/** Flip bytes in every file of a target (its pmem log and data files), with the pool closed. */
export function corruptTarget(poolDir: string, target: number, seed: number): void {
  const tdir = join(poolDir, 'targets', String(target));
  const rng = new Rng(seed);
  const files: string[] = [];
  const walk = (d: string) => { for (const e of readdirSync(d)) { const p = join(d, e); if (statSync(p).isDirectory()) walk(p); else files.push(p); } };
  walk(tdir);
  for (const p of files) {
    const size = statSync(p).size;
    if (size <= 4096) continue;
    const fd = openSync(p, 'r+');
    for (let i = 0; i < 400; i++) writeSync(fd, Buffer.from([rng.u32() & 0xff]), 0, 1, 4096 + rng.int(Math.max(1, Math.min(size, 4 << 20) - 4096)));
    closeSync(fd);
  }
}

/** Flip one byte every `step` bytes of a target's value file (vos.data); returns how many. */
export function damageValues(poolDir: string, target: number, step: number): number {
  const p = join(poolDir, 'targets', String(target), 'vos.data');
  const size = statSync(p).size;
  const fd = openSync(p, 'r+');
  const b = Buffer.alloc(1);
  let n = 0;
  try {
    for (let off = 1000; off < size; off += step) {
      if (readSync(fd, b, 0, 1, off) !== 1) break;
      b[0] ^= 0x5a;
      writeSync(fd, b, 0, 1, off);
      n++;
    }
  } finally { closeSync(fd); }
  return n;
}
