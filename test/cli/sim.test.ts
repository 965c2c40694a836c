import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

const t = suite('cli-sim');
const root = new URL('../..', import.meta.url).pathname;

/** Run main() in-process, capturing stdout and stderr. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => { out += String(s); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  try { return { code: await main(args), out, err }; } finally { process.stdout.write = ow; process.stderr.write = ew; }
}

t('--json prints exactly one JSON object with the documented schema', async () => {
  const r = await run(['sim', '--nodes', '8', '--ranks-per-node', '4', '--targets-per-rank', '4', '--class', 'EC_4P2G1',
    '--objects', '20000', '--fail', 'target:37', '--extend', '2', '--drain', 'target:3', '--fail', 'rank:5', '--seed', '7', '--json']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out.trim().split('\n').length, 1);
  const j = JSON.parse(r.out);
  assert.is(j.algo, 'jump-map'); assert.is(j.class, 'EC_4P2G1'); assert.is(j.objects, 20000);
  assert.equal(j.pool, { nodes: 8, ranks: 32, targets: 128 });
  assert.equal(j.steps.map((s: { change: string }) => s.change), ['initial', 'fail target:37', 'extend 2', 'drain target:3', 'fail rank:5']);
  const total = 20000 * 6;
  for (const s of j.steps) {
    for (const k of ['min', 'mean', 'max', 'maxOverMean', 'stddev']) assert.type(s.load[k], 'number');
    assert.is(s.violations, 0);
    assert.ok(s.objectsPerSecond > 0);
    assert.ok(Math.abs(s.load.mean * s.targets - total) < 1e-6 * total, 'every shard on an in-service target');
  }
  assert.equal(j.steps.map((s: { targets: number }) => s.targets), [128, 127, 159, 158, 154]);
  const [init, fail, ext, drain, rank] = j.steps;
  assert.is(init.rebuildFanout, null); assert.is(init.moved.shards, 0);
  assert.is(fail.moved.fraction, fail.moved.idealFraction, 'exclude moves exactly the failed target\'s shards');
  assert.ok(fail.rebuildFanout.sources > 50 && fail.rebuildFanout.destinations > 50, JSON.stringify(fail.rebuildFanout));
  assert.is(ext.rebuildFanout, null);
  assert.ok(ext.moved.fraction >= ext.moved.idealFraction && ext.moved.fraction < ext.moved.idealFraction * 1.3, JSON.stringify(ext.moved));
  // a second loss can re-pick the spare of a group that already lost a shard: a few extra moves
  assert.ok(drain.moved.fraction >= drain.moved.idealFraction && drain.moved.fraction <= drain.moved.idealFraction * 1.02, JSON.stringify(drain.moved));
  assert.equal(drain.rebuildFanout.sources, 1);
  assert.ok(rank.moved.fraction >= rank.moved.idealFraction && rank.moved.fraction <= rank.moved.idealFraction * 1.02, JSON.stringify(rank.moved));
});

t('table output, ring algorithm and an SVG plot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sim-'));
  try {
    const svg = join(dir, 'load.svg');
    const r = await run(['sim', '--nodes', '4', '--ranks-per-node', '4', '--targets-per-rank', '2', '--class', 'RP_3G1',
      '--objects', '5000', '--algo', 'ring', '--fail', 'target:1', '--plot', svg]);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /ring, RP_3G1/);
    assert.match(r.out, /fail target:1/);
    assert.match(r.out, /max\/mean/);
    const text = readFileSync(svg, 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
    assert.match(text, /<\/svg>\s*$/);
    assert.is((text.match(/<polyline /g) ?? []).length, 2);
    const opens = (text.match(/<[a-z]+[ >]/g) ?? []).length - (text.match(/\/>/g) ?? []).length;
    const closes = (text.match(/<\/[a-z]+>/g) ?? []).length;
    assert.is(opens, closes, 'balanced elements');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

t('bad arguments: one line on stderr, exit code 2 (in-process)', async () => {
  for (const args of [
    ['sim', '--class', 'EC_9P9G1', '--objects', '10'],
    ['sim', '--nodes', '1', '--ranks-per-node', '2', '--targets-per-rank', '4', '--class', 'EC_8P2G1', '--objects', '10'],
    ['sim', '--fail', 'target:5000', '--objects', '10'],
    ['sim', '--fail', 'disk:3', '--objects', '10'],
    ['sim', '--drain', 'rank:1', '--objects', '10'],
    ['sim', '--objects', 'many'],
    ['sim', '--algo', 'magic', '--objects', '10'],
    ['sim', '--fail', 'target:3', '--fail', 'target:3', '--objects', '10'],
  ]) {
    const r = await run(args);
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.out, '');
    assert.is(r.err.trim().split('\n').length, 1, r.err);
  }
});

t('spawned process: exit code 2 and a single stderr line for an unknown class', () => {
  const p = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `import { main } from ${JSON.stringify(join(root, 'src/cli/main.ts'))}; process.exitCode = await main(process.argv.slice(1));`,
    'sim', '--class', 'NOPE', '--objects', '10'], { cwd: root, encoding: 'utf8' });
  assert.is(p.status, 2, p.stderr);
  assert.is(p.stdout, '');
  const lines = p.stderr.trim().split('\n');
  assert.is(lines.length, 1, p.stderr);
  assert.match(lines[0]!, /unknown object class/);
});

t.run();
