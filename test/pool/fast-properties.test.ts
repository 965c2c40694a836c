/**
 * The objects a small put and get go through keep V8's fast properties. A property load from an
 * object in dictionary mode (an object literal with an accessor, a `delete`, too many properties
 * added late) is a generic lookup, and calls through it are not inlined: the container's runtime
 * object alone, in dictionary mode, cost ~15% of a put's JavaScript thread. Checked in a child
 * process with `--allow-natives-syntax`, on a plain and on a durable pool.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'fast-properties-child.ts');

for (const mode of ['plain', 'durable']) {
  test(`every object a ${mode} pool's puts and gets reach has fast properties`, () => {
    const dir = tmpDir('fast-props-');
    try {
      const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', child, path.join(dir, 'pool'), mode], { encoding: 'utf8', timeout: 120_000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, `child printed no result (status ${r.status}): ${r.stderr.slice(-2000)}`);
      const { slow, classes } = JSON.parse(line!.slice('RESULT '.length)) as { slow: string[]; classes: Record<string, number> };
      // the walk reached the layers a put goes through
      for (const cls of ['Container', 'Journal', 'ContainerStore', 'TargetStore', 'Wal', 'Memtable', 'PmemSpace', 'OidTable']) assert.ok((classes[cls] ?? 0) > 0, `walk reached no ${cls}`);
      assert.equal(slow, [], `objects in dictionary mode: ${slow.join(', ')}`);
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
}

test.run();
