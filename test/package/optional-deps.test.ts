/**
 * Optional native pieces load lazily: without `@riaskov/mmap-io` (simulated in a child process
 * with CAIRN_NO_MMAP=1, the real absence is covered by pack.test.ts) the library still imports,
 * and mapping a pmem file fails with `UNSUPPORTED` naming the reason instead of a crash at import.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mmapSupport, PmemFile } from '../../src/media/pmem.js';
import { tmpDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const dir = tmpDir();

const t = suite('optional native dependencies');

t('with mmap-io installed (this checkout) the binding loads on first use and maps files', () => {
  const s = mmapSupport();
  assert.ok(s.available, s.reason);
  const f = PmemFile.open(join(dir, 'ok.scm'), { size: 1 << 20 });
  f.write(4096, new Uint8Array([1, 2, 3]));
  assert.equal([...f.read(4096, 3)], [1, 2, 3]);
  f.close();
});

t('without mmap the library imports, reports why, and PmemFile.open throws UNSUPPORTED', () => {
  const script = `
    const cairn = await import(${JSON.stringify(join(root, 'index.ts'))});
    const { mmapSupport, PmemFile } = await import(${JSON.stringify(join(root, 'src/media/pmem.ts'))});
    let code, message;
    try { PmemFile.open(${JSON.stringify(join(dir, 'no.scm'))}, { size: 1 << 20 }); } catch (e) { code = e.code; message = e.message; }
    console.log(JSON.stringify({ exports: typeof cairn.Pool, support: mmapSupport(), code, message }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, CAIRN_NO_MMAP: '1' } });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { exports: string; support: { available: boolean; reason: string }; code: string; message: string };
  assert.is(out.exports, 'function');
  assert.equal(out.support, { available: false, reason: 'mmap disabled by CAIRN_NO_MMAP=1' });
  assert.is(out.code, 'UNSUPPORTED');
  assert.match(out.message, /mmap is not available: mmap disabled by CAIRN_NO_MMAP=1/);
});

t.run();
