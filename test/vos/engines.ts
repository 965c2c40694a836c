/**
 * Which block I/O engines the VOS tests run with: always `pread`, plus `io_uring` when a
 * device opened with it completes a write and a read here, probed in a child process with a
 * timeout (so a broken engine cannot hang the test). CAIRN_VOS_IO=pread|io_uring forces one.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const probe = `
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { openBlockDevice } from ${JSON.stringify(fileURLToPath(new URL('../../src/media/block-device.ts', import.meta.url)))};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-vos-io-'));
try {
  const dev = await openBlockDevice(path.join(dir, 'probe'), { size: 1 << 20, io: 'io_uring' });
  const buf = dev.allocAligned(4096); buf.fill(7);
  await dev.write(0, buf);
  const back = await dev.read(0, 4096);
  await dev.close();
  console.log(back[100] === 7 ? 'IO_URING_OK' : 'IO_URING_BAD');
} finally { fs.rmSync(dir, { recursive: true, force: true }); }
process.exit(0);
`;

/** Engines to test the store with. */
export async function ioEngines(): Promise<Array<'pread' | 'io_uring'>> {
  const forced = process.env.CAIRN_VOS_IO;
  if (forced === 'pread' || forced === 'io_uring') return [forced];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 6_000 });
  if (r.stdout?.includes('IO_URING_OK')) return ['pread', 'io_uring'];
  console.log(`io_uring not tested here: ${(r.stderr || r.stdout || r.error?.message || 'probe failed').split('\n').find((l) => l.trim()) ?? 'probe failed'}`);
  return ['pread'];
}
