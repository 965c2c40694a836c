/** `cairn bench`: the IOR-like and mdtest-like workloads on an embedded pool. */
import type { Command } from 'commander';
import { runIor } from '../bench/ior.js';
import { intOpt, sizeOpt } from './util.js';

export function registerBench(program: Command): void {
  program.command('bench')
    .description('IOR-like 1 MiB sequential write/read (EC_4P2G1, RP_3G1) and mdtest-like 4 KiB KV puts/gets, against raw fs')
    .option('--bytes <size>', 'bytes per class', '256M')
    .option('--transfer <size>', 'transfer size', '1M')
    .option('--kv-ops <n>', 'KV operations', '20000')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const tty = process.stderr.isTTY === true;
      const rows = await runIor({
        bytes: sizeOpt('bytes', o.bytes, 256 << 20), transfer: sizeOpt('transfer', o.transfer, 1 << 20), kvOps: intOpt('kv-ops', o.kvOps, 20000),
        progress: (m) => { if (tty) process.stderr.write(`\r\x1b[2K  running ${m}`); },
      });
      if (tty) process.stderr.write('\r\x1b[2K');
      if (o.json) { console.log(JSON.stringify(rows, null, 2)); return; }
      for (const r of rows) {
        const rate = r.bytesPerSecond !== undefined ? `${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s` : `${Math.round(r.opsPerSecond!)} ops/s`;
        const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toFixed(2) : v}`).join(' ') : '';
        console.log(`${r.name.padEnd(32)} ${rate.padStart(14)}  ${extra}`);
      }
    });
}
