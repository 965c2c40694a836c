/** Helpers shared by the CLI sub-commands. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { constants } from 'node:os';
import { join } from 'node:path';
import { UsageError, fileError } from './errors.js';

/** Parse a positive integer option, or throw a one-line usage error. */
export function intOpt(name: string, v: string | number | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
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

/** Human-readable bytes. */
export function fmtBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}
