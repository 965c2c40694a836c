/** Helpers shared by the CLI sub-commands. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { constants } from 'node:os';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { CreatedPaths } from '../pool/create-guard.js';
import { UsageError, fileError } from './errors.js';

/**
 * Parse an integer option (decimal digits only: not "", "0x10" or "1e3"), at least `min` and at
 * most `max`, or throw a one-line usage error. `name` is the flag without dashes; `what` replaces
 * `--name` in the message (for positional arguments such as a target id).
 */
export function intOpt(name: string, v: string | number | undefined, def: number, min = 1, max = Number.MAX_SAFE_INTEGER, what = `--${name}`): number {
  if (v === undefined) return def;
  const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  if (n > max) throw new UsageError(`${what} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** Parse a size like 64M, 1G, 4096 (binary units), at least `min` bytes. */
export function sizeOpt(name: string, v: string | undefined, def: number, min = 0): number {
  if (v === undefined) return def;
  const m = /^(\d+)([kKmMgGtT]?)(i?[bB])?$/.exec(String(v).trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 4096, 64M or 1G, got ${JSON.stringify(v)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} ${v} is too large`);
  if (n < min) throw new UsageError(`--${name} must be at least ${min} bytes, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * The etcd client URLs of `--etcd` (comma separated): each must be http(s)://host[:port], else a
 * one-line usage error (not ETCD_UNREACHABLE, and never a silent fallback to a local pool).
 */
export function etcdUrls(v: string): string[] {
  const urls = String(v).split(',').map((u) => u.trim());
  for (const u of urls) {
    let url: URL | undefined;
    try { url = new URL(u); } catch { /* reported below */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw new UsageError(`--etcd must be http(s)://host:port URLs separated by commas, got ${JSON.stringify(v)}`);
    }
  }
  return urls;
}

/** The pool directory of a command: --pool, $CAIRN_POOL, or ./cairn-pool. */
export function poolDir(o: { pool?: string }): string {
  return o.pool ?? process.env.CAIRN_POOL ?? 'cairn-pool';
}

/** Refuse a `pool create` path that exists and is not a directory (one usage line, not ENOTDIR). */
export async function checkNewPoolDir(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`--pool ${dir} exists and is not a directory`);
}

/**
 * The options every command working on a pool takes: the pool directory, or with `--etcd` the
 * name of a connected pool and its secret.
 */
export function poolOptions(c: Command): Command {
  return c.option('-p, --pool <dir>', 'pool directory (with --etcd: the pool name)')
    .option('--etcd <urls>', 'connect through etcd to engines (then --pool names the pool)')
    .option('--secret-file <file>', 'pool secret (default $CAIRN_POOL_SECRET)');
}

/** The pool secret of a connected command: --secret-file, else $CAIRN_POOL_SECRET. */
export function readSecret(o: { secretFile?: string }): string | undefined {
  if (!o.secretFile) return process.env.CAIRN_POOL_SECRET;
  try { return readFileSync(o.secretFile, 'utf8').trim(); } catch (err) { throw new UsageError(`cannot read --secret-file ${o.secretFile}: ${(err as Error).message}`); }
}

/**
 * Refuse a TLS certificate and key (and CA) that are not PEM or do not belong together: one
 * usage line naming the files' problem, before any server starts.
 */
export function checkTlsPair(cert: Buffer, key: Buffer, ca?: Buffer): void {
  try { createSecureContext({ cert, key, ...(ca ? { ca } : {}) }); } catch (err) {
    throw new UsageError(`--tls-cert/--tls-key${ca ? '/--tls-ca' : ''}: not a usable PEM certificate and private key: ${String((err as Error).message).split('\n')[0]}`);
  }
}

/** A progress bar on a terminal (stderr), nothing when piped. */
export function progressBar(total: number, label: string): { update(n: number): void; stop(): void } {
  if (process.stderr.isTTY !== true || total <= 0) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${label} [{bar}] {percentage}% {value}/{total} eta {eta}s`, hideCursor: true }, cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  return { update: (n) => bar.update(n), stop: () => bar.stop() };
}

/**
 * Run `fn` in a fresh directory `parent/<prefix>XXXXXX` that is removed afterwards: on return, on
 * error, and on SIGINT/SIGTERM (then the process exits with 128 + the signal number).
 */
export async function withScratchDir<T>(parent: string, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  let dir: string;
  try { dir = mkdtempSync(join(parent, prefix)); } catch (err) { throw fileError(err, `cannot create a directory under ${parent}`); }
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = (sig: NodeJS.Signals) => { remove(); process.exit(128 + (constants.signals[sig] ?? 0)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', remove);
  try {
    return await fn(dir);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', remove);
    remove();
  }
}

/** Removals an interrupted create makes at most, and the wait after each for calls in flight to land. */
const SIGNAL_CLEANUP_PASSES = 10;
const SIGNAL_CLEANUP_SETTLE_MS = 20;

/**
 * Run `fn`, which creates `dir` (or new entries in it when it exists already): when SIGINT or
 * SIGTERM stops the process meanwhile, what `fn` created is removed before the process exits with
 * 128 + the signal number, so an interrupted `pool create` leaves no half-written pool behind.
 */
export async function removeOnSignal<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const created = CreatedPaths.note(dir);
  const onSignal = (sig: NodeJS.Signals) => {
    // File system calls `fn` already handed to libuv's threads may land after a removal (a
    // recursive mkdir making the parents again, seen under load): remove again once they had time
    // to finish, until nothing is left (nothing new starts: this handler holds the event loop).
    const settle = new Int32Array(new SharedArrayBuffer(4));
    for (let pass = 0; pass < SIGNAL_CLEANUP_PASSES; pass++) {
      created.remove();
      Atomics.wait(settle, 0, 0, SIGNAL_CLEANUP_SETTLE_MS);
      if (!created.remains()) break;
    }
    process.exit(128 + (constants.signals[sig] ?? 0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Human-readable bytes. */
export function fmtBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}
