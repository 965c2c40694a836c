/**
 * `cairn mount CONTAINER MOUNTPOINT`: serve the container's POSIX namespace (Dfs) through FUSE
 * until SIGTERM or SIGINT, then unmount cleanly (also when serving fails). Prints one line
 * `mounted CONTAINER at MOUNTPOINT` on stdout once the kernel serves the mount (scripts and tests
 * wait for it). The process holds the pool open while mounted (an embedded pool admits one process).
 */
import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { Dfs } from '../../index.js';
import { mountFuse } from '../dfs/fuse.js';
import { withPool } from './pool-commands.js';
import { poolOptions, intOpt } from './util.js';

/** Resolves on the first SIGTERM or SIGINT (later ones are ignored while unmounting). */
function untilSignal(): Promise<string> {
  return new Promise((done) => {
    let seen = false;
    const on = (sig: string) => {
      if (seen) { process.stderr.write(`cairn mount: ${sig} again; still unmounting\n`); return; }
      seen = true;
      done(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function registerMount(program: Command): void {
  poolOptions(program.command('mount <container> <mountpoint>')
    .description('serve a container\'s POSIX namespace through FUSE until SIGTERM/SIGINT'))
    .option('--attr-timeout <s>', 'seconds the kernel caches attributes and names', '1')
    .option('--debug', 'print every FUSE request (libfuse debug output)')
    .action(async (label: string, mountpoint: string, o) => withPool(o, async (p) => {
      const attrTimeout = intOpt('attr-timeout', o.attrTimeout, 1, 0);
      const stopped = untilSignal();
      const c = await p.openContainer(label);
      const dfs = await Dfs.mount(c);
      const mnt = resolve(mountpoint);
      const m = await mountFuse(dfs, mnt, { attrTimeout, debug: o.debug === true, fsname: `cairn:${label}` });
      // However the process ends (a fatal error exits at once), leave no mount behind.
      let detached = false;
      const lastResort = () => { if (!detached) spawnSync('fusermount', ['-uz', mnt]); };
      process.on('exit', lastResort);
      try {
        process.stdout.write(`mounted ${label} at ${mnt}\n`);
        const sig = await stopped;
        process.stderr.write(`cairn mount: ${sig}: unmounting ${mnt}\n`);
      } finally {
        await m.unmount();
        detached = true;
        process.off('exit', lastResort);
        await dfs.close();
      }
    }));
}
