/**
 * Crash test: a child process writes (inline values, block values, array extents, with
 * aggregation and log compaction going on) and reports acknowledged writes on stdout; the
 * parent SIGKILLs it at seeded random moments, reopens the target and checks that every
 * acknowledged write (or a later one) is readable and intact, that nothing torn is returned,
 * and that scrub finds nothing wrong.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { safe } from './safe.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../core/rng.js';
import { VosTarget, MAX_EPOCH } from '../../src/vos/index.js';
import { CRASH_ARRAY_LEN, CRASH_KEYS, crashValue, embeddedEpoch } from './crash-common.js';
import { ioEngines } from './engines.js';

const test = suite('vos crash');
const ROUNDS = Number(process.env.CAIRN_VOS_CRASH_ROUNDS ?? 24);
const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const enc = new TextEncoder();

/** Run the child until killed `killAfterMs` after it is ready; returns its complete stdout lines. */
function runChild(dir: string, seed: number, io: string, durable: boolean, killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dir, String(seed), io, durable ? '1' : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    let timer: NodeJS.Timeout | undefined;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (!timer && out.includes('READY\n')) timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code, signal) => {
      clearTimeout(guard); if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') { reject(new Error(`child exited on its own (code ${code}): ${err.slice(0, 2000)}`)); return; }
      const lines = out.split('\n');
      lines.pop(); // the last line may be cut by the kill
      resolve(lines);
    });
  });
}

test(`SIGKILL at random moments, ${ROUNDS} rounds, seed 2024`, safe(async () => {
  const engines = await ioEngines();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-vos-crash-'));
  const rng = new Rng(2024);
  // latest acknowledged epoch per (kind, key)
  const acked = new Map<string, bigint>();
  let totalAcks = 0; let compactionsSeen = 0; let lastGen = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const io = engines[round % engines.length]!;
      const durable = round % 3 === 2;
      const lines = await runChild(dir, 1000 + round, io, durable, rng.range(80, 700));
      for (const l of lines) {
        const m = /^ACK (\w+) (\d+) (\d+)$/.exec(l);
        if (!m) continue;
        const k = `${m[1]}/${m[2]}`; const e = BigInt(m[3]!);
        if ((acked.get(k) ?? 0n) < e) acked.set(k, e);
        totalAcks++;
      }
      const t = await VosTarget.open(dir, { io });
      try {
        assert.equal(t.openReport.corruptSpans, [], `round ${round}: no corrupt spans after a crash`);
        for (const kind of ['small', 'large', 'array']) {
          for (let key = 0; key < CRASH_KEYS; key++) {
            const want = acked.get(`${kind}/${key}`);
            const dkey = enc.encode(`k${key}`);
            let got: Uint8Array | undefined;
            if (kind === 'array') {
              const r = await t.fetchArray(MAX_EPOCH, 1n, dkey, enc.encode('arr'), { index: 0, count: CRASH_ARRAY_LEN });
              got = r.present.length ? r.data : undefined;
              if (got) assert.equal(r.present, [{ index: 0, count: CRASH_ARRAY_LEN }], `round ${round} ${kind}/${key}: whole extent`);
            } else {
              got = await t.fetchSingle(MAX_EPOCH, 1n, dkey, enc.encode(kind));
            }
            if (want === undefined && got === undefined) continue;
            assert.ok(got, `round ${round}: acknowledged ${kind}/${key}@${want} lost`);
            const e = embeddedEpoch(got!);
            assert.ok(want === undefined || e >= want, `round ${round}: ${kind}/${key} went back from ${want} to ${e}`);
            assert.ok(Buffer.from(got!).equals(Buffer.from(crashValue(kind, key, e))), `round ${round}: ${kind}/${key}@${e} bytes intact`);
          }
        }
        const scrub = await t.scrub();
        assert.equal(scrub.bad, [], `round ${round}: scrub clean`);
        compactionsSeen += t.compactions;
        const gen = (t as unknown as { log: { gen: number } }).log.gen;
        if (gen > lastGen) { compactionsSeen += gen - Math.max(lastGen, 1); lastGen = gen; }
      } finally {
        await t.close();
      }
    }
    assert.ok(totalAcks > ROUNDS * 20, `enough acknowledged writes (${totalAcks})`);
    assert.ok(compactionsSeen > 0, 'the log was compacted during the run');
  } catch (e) {
    console.error('crash test failed:', e); // uvu does not print errors with a cause
    throw e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test.run();
