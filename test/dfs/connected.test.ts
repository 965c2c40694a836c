/**
 * The namespace on a connected pool (a real etcd and four `cairn engine` processes): two clients
 * mount one container; what one writes and renames the other sees; both creating and renaming in
 * one directory at once conflict (TX_RESTART) and retry without losing an entry; and
 * `cairn mount --etcd` serves the same namespace through FUSE while a client uses the API
 * (that part needs FUSE and is skipped, saying why, where it is unusable).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Dfs, type Pool } from '../../index.js';
import { fuseUnavailableReason } from '../../src/dfs/fuse.js';
import { Cluster } from '../helpers/cluster.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';

const MOUNT_DEADLINE_MS = 60_000;
const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;

const t = suite('dfs on a connected pool');
let cluster: Cluster;
let p1: Pool, p2: Pool;
let a: Dfs, b: Dfs;

t.before(async () => {
  cluster = await Cluster.start({ engines: 4, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '32M', dataBytes: '256M' });
  p1 = await cluster.connect();
  await p1.createContainer('shared', { oclass: 'EC_2P1G1', redundancyFactor: 1 });
  p2 = await cluster.connect();
  a = await Dfs.mount(await p1.openContainer('shared'));
  b = await Dfs.mount(await p2.openContainer('shared'));
});

t.after(async () => {
  await a?.close(); await b?.close();
  await p1?.close(); await p2?.close();
  await cluster?.stop();
});

t('one client writes and renames, the other reads and lists', async () => {
  assert.is(a.rootOid, b.rootOid, 'both clients found the one namespace');
  await a.mkdir('/proj/src', { recursive: true });
  const data = Buffer.alloc(2_500_000, 7);
  await a.writeFile('/proj/src/blob', data);
  assert.ok(((await b.readFile('/proj/src/blob')) as Buffer).equals(data));
  await b.rename('/proj', '/moved');
  await rejectsWith(a.stat('/proj/src/blob'), 'ENOENT');
  assert.equal(await a.readdir('/moved/src'), ['blob']);
});

t('creates and renames from both clients in one directory at once lose nothing', async () => {
  await a.mkdir('/race');
  const n = 30;
  await Promise.all([
    (async () => { for (let i = 0; i < n; i++) await a.writeFile(`/race/a${i}`, `a${i}`); })(),
    (async () => { for (let i = 0; i < n; i++) await b.writeFile(`/race/b${i}`, `b${i}`); })(),
  ]);
  const names = await a.readdir('/race');
  assert.is(names.length, 2 * n);
  await b.mkdir('/race2');
  await Promise.all([
    (async () => { for (let i = 0; i < n; i += 2) await a.rename(`/race/a${i}`, `/race2/a${i}`); })(),
    (async () => { for (let i = 0; i < n; i += 2) await b.rename(`/race/b${i}`, `/race2/b${i}`); })(),
  ]);
  const left = await b.readdir('/race'), moved = await b.readdir('/race2');
  assert.is(left.length + moved.length, 2 * n);
  assert.is(moved.length, n);
  assert.is(await a.readFile('/race2/b4', 'utf8'), 'b4');
});

function fuseProblem(): string | undefined {
  try { closeSync(openSync('/dev/fuse', 'r+')); } catch (err) { return `/dev/fuse is not usable: ${(err as Error).message}`; }
  if (spawnSync('which', ['fusermount']).status !== 0) return 'fusermount is not installed (Debian package fuse)';
  return fuseUnavailableReason();
}

const problem = fuseProblem();
if (problem) {
  process.stderr.write(`SKIPPED: cairn mount --etcd needs FUSE: ${problem}\n`);
  t.skip('cairn mount --etcd (needs FUSE)', () => {});
} else {
  t('cairn mount --etcd (needs FUSE): files written through the mount are read by a client, and back', async () => {
    const dir = tmpDir();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    let err = '';
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', entry, 'mount', 'shared', mnt, '--etcd', cluster.etcdUrl, '--pool', cluster.pool],
      { env: { ...process.env, CAIRN_POOL_SECRET: cluster.secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`mount did not come up: ${err}`)), MOUNT_DEADLINE_MS);
        child.stderr!.on('data', (d) => { err += d; });
        child.stdout!.on('data', (d) => { if (String(d).includes('mounted shared')) { clearTimeout(timer); resolve(); } });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`mount exited ${code}: ${err}`)); });
      });
      assert.equal(readFileSync(join(mnt, 'moved/src/blob')).length, 2_500_000);
      writeFileSync(join(mnt, 'from-mount.txt'), 'via FUSE\n');
      assert.is(await b.readFile('/from-mount.txt', 'utf8'), 'via FUSE\n', 'closed through the mount, read by a client');
      await a.writeFile('/from-client.txt', 'via API\n');
      assert.is(readFileSync(join(mnt, 'from-client.txt'), 'utf8'), 'via API\n');
      const code = await new Promise<number | null>((resolve) => { child.removeAllListeners('exit'); child.on('exit', resolve); child.kill('SIGTERM'); });
      assert.is(code, 0, err);
      assert.not.ok(readFileSync('/proc/mounts', 'utf8').includes(mnt));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (readFileSync('/proc/mounts', 'utf8').includes(mnt)) spawnSync('fusermount', ['-uz', mnt]);
    }
  });
}

t.run();
