/**
 * A failed `Engine.start` removes what that start created and nothing else: with etcd unreachable
 * (a closed port) it fails with ETCD_UNREACHABLE and the target directories it made are gone; when
 * it fails later (its listen address is taken, after it joined the pool and created its stores,
 * engine.json and tx.log) the same. A target directory that existed keeps exactly what it held:
 * an empty one stays, empty; one with data keeps its data, untouched.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { Etcd } from '../../src/net/etcd.js';
import { poolPrefix } from '../../src/net/protocol.js';
import { freePort, startEtcd } from '../helpers/etcd.js';
import { rejectsWith, tmpDir } from '../helpers/tmp.js';

const SECRET = 'start-cleanup-secret';
/** Small stores: the later failure creates them for real before it fails. */
const SIZES = { scmBytes: 8 << 20, dataBytes: 16 << 20 };

/** Every file under `dir` with its bytes (directories end in "/"), for an exact before/after comparison. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) { out[`${rel}${e}/`] = ''; walk(p, `${rel}${e}/`); } else out[rel + e] = readFileSync(p).toString('base64');
    }
  };
  walk(dir, '');
  return out;
}

/** A directory that held data before the engine started: a file and a subdirectory with a file. */
function dirWithData(dir: string): void {
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'keep.bin'), 'data that was here before');
  writeFileSync(join(dir, 'sub', 'more.bin'), 'and more');
}

const t = suite('engine start cleanup');

t('etcd unreachable: ETCD_UNREACHABLE, the directories it made are gone, existing ones hold what they held', async () => {
  const root = tmpDir();
  const url = `http://127.0.0.1:${await freePort()}`; // nobody listens there
  // fresh directories, one below a parent that does not exist either
  await rejectsWith(Engine.start({ pool: 'p', etcd: url, targets: [join(root, 'new', 't0'), join(root, 't1')], listen: '127.0.0.1:0', secret: SECRET }), 'ETCD_UNREACHABLE');
  assert.equal(readdirSync(root), []);
  // existing directories: one with data, one empty
  dirWithData(join(root, 'data'));
  mkdirSync(join(root, 'empty'));
  const before = snapshot(root);
  await rejectsWith(Engine.start({ pool: 'p', etcd: url, targets: [join(root, 'data'), join(root, 'empty'), join(root, 'fresh')], listen: '127.0.0.1:0', secret: SECRET }), 'ETCD_UNREACHABLE');
  assert.equal(snapshot(root), before);
});

t('a later failure (the listen address is taken): what the start created is removed, existing directories hold what they held', async () => {
  const etcd = await startEtcd();
  let busy: Server | undefined;
  try {
    busy = createServer();
    await new Promise<void>((resolve, reject) => { busy!.once('error', reject); busy!.listen(0, '127.0.0.1', () => resolve()); });
    const listen = `127.0.0.1:${(busy.address() as { port: number }).port}`;
    const root = tmpDir();
    dirWithData(join(root, 'data'));
    mkdirSync(join(root, 'empty'));
    const before = snapshot(root);
    let err: unknown;
    try {
      await Engine.start({ pool: 'p', etcd: etcd.url, targets: [join(root, 'empty'), join(root, 'fresh', 't1'), join(root, 'data')], listen, secret: SECRET, ...SIZES });
      assert.unreachable('the engine started on a taken address');
    } catch (e) { err = e; }
    assert.match(String((err as Error).message), /EADDRINUSE/);
    assert.equal(snapshot(root), before);
    // it had got far: the pool's map in etcd names its targets (so the removed files were its stores, engine.json and tx.log)
    const client = await Etcd.connect(etcd.url);
    try { assert.ok(await client.get(poolPrefix('p') + 'maps'), 'the engine joined the pool before it failed'); } finally { await client.close(); }
  } finally {
    busy?.close();
    await etcd.stop();
  }
});

t.run();
