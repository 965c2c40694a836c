/**
 * `cairn bench`: the IOR-like and mdtest-like workloads on an embedded pool. Its files live in one
 * fresh directory, which is removed when the run ends, fails, or is stopped by SIGINT/SIGTERM; a
 * run that would not fit in the free space of that filesystem is refused before it starts.
 */
import type { Command } from 'commander';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { CairnError } from '../../core/errors.js';
import { runIor } from '../bench/ior.js';
import { fmtBytes, intOpt, sizeOpt, withScratchDir } from './util.js';
import { UsageError, fileError } from './errors.js';

/** Bytes on disk per byte of `--bytes`: the fs baseline (1) + EC_4P2 (1.5) + RP_3 (3). */
export const BENCH_SPACE_FACTOR = 5.5;
/** Bytes on disk per mdtest KV operation: a 4 KiB value, 3 replicas, with record overhead. */
export const BENCH_KV_BYTES_PER_OP = 16 * 1024;
/** Fixed space of the bench pool: metadata logs and container files. */
export const BENCH_FIXED_BYTES = 256 * 1024 * 1024;

/** Largest `--transfer`: one buffer of it is allocated per write and read in flight. */
export const MAX_BENCH_TRANSFER = 64 * 1024 * 1024;

/** Space a bench run needs on its filesystem. */
export function benchSpaceNeeded(bytes: number, kvOps: number): number {
  return Math.ceil(bytes * BENCH_SPACE_FACTOR) + kvOps * BENCH_KV_BYTES_PER_OP + BENCH_FIXED_BYTES;
}

/** Refuse a run that does not fit in the free space under `dir` (`NO_SPACE`, one line). */
async function checkSpace(dir: string, bytes: number, kvOps: number): Promise<void> {
  let free: number;
  try {
    const s = await statfs(dir);
    free = s.bavail * s.bsize;
  } catch (err) { throw fileError(err, `cannot use --dir ${dir}`); }
  const need = benchSpaceNeeded(bytes, kvOps);
  if (need > free) {
    throw new CairnError('NO_SPACE', `--bytes ${fmtBytes(bytes)} needs about ${fmtBytes(need)} under ${dir}, only ${fmtBytes(free)} free: choose a smaller --bytes or another --dir`, { need, free, dir });
  }
}

export function registerBench(program: Command): void {
  program.command('bench')
    .description('IOR-like 1 MiB sequential write/read (EC_4P2G1, RP_3G1) and mdtest-like 4 KiB KV puts/gets, against raw fs')
    .option('--bytes <size>', 'bytes per class', '256M')
    .option('--transfer <size>', 'transfer size', '1M')
    .option('--kv-ops <n>', 'KV operations', '20000')
    .option('--dir <dir>', 'where the bench\'s files go (removed afterwards; default: the temp directory)')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const bytes = sizeOpt('bytes', o.bytes, 256 << 20);
      const transfer = sizeOpt('transfer', o.transfer, 1 << 20, 1);
      // each write moves one transfer: more than --bytes would write more than the space check counts
      if (transfer > MAX_BENCH_TRANSFER) throw new UsageError(`--transfer must be at most ${fmtBytes(MAX_BENCH_TRANSFER)}, got ${JSON.stringify(o.transfer)}`);
      if (bytes < transfer) throw new UsageError(`--bytes (${fmtBytes(bytes)}) must be at least --transfer (${fmtBytes(transfer)})`);
      const kvOps = intOpt('kv-ops', o.kvOps, 20000);
      const parent: string = o.dir ?? tmpdir();
      await checkSpace(parent, bytes, kvOps);
      const tty = process.stderr.isTTY === true;
      const rows = await withScratchDir(parent, 'cairn-bench-', (dir) => runIor({
        bytes, transfer, kvOps, dir,
        progress: (m) => { if (tty) process.stderr.write(`\r\x1b[2K  running ${m}`); },
      }));
      if (tty) process.stderr.write('\r\x1b[2K');
      if (o.json) { console.log(JSON.stringify(rows, null, 2)); return; }
      for (const r of rows) {
        const rate = r.bytesPerSecond !== undefined ? `${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s` : `${Math.round(r.opsPerSecond!)} ops/s`;
        const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`).join(' ') : '';
        console.log(`${r.name.padEnd(32)} ${rate.padStart(14)}  ${extra}`);
      }
    });
}
