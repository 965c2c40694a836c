import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  assert.equal(j.pool, { nodes: 8, ranks: 32, targets: 128, shape: '8x4x4', weight: 128 });
  for (const k of ['algo', 'class', 'objects', 'seed', 'shardsPerObject', 'pool', 'steps']) assert.ok(k in j, k);
  for (const s of j.steps) for (const k of ['change', 'targets', 'load', 'violations', 'moved', 'rebuildFanout', 'objectsPerSecond', 'cpuObjectsPerSecond', 'poolVersion', 'domainLevel']) assert.ok(k in s, k);
  for (const s of j.steps) for (const k of ['shards', 'fraction', 'idealFraction']) assert.type(s.moved[k], 'number');
  assert.equal(j.steps.map((s: { change: string }) => s.change), ['initial', 'fail target:37', 'extend 2', 'drain target:3', 'fail rank:5']);
  const total = 20000 * 6;
  for (const s of j.steps) {
    for (const k of ['min', 'mean', 'max', 'maxOverMean', 'stddev']) assert.type(s.load[k], 'number');
    assert.is(s.violations, 0);
    assert.ok(s.objectsPerSecond > 0);
    assert.ok(s.cpuObjectsPerSecond > 0 && Number.isFinite(s.cpuObjectsPerSecond));
    assert.ok(Math.abs(s.load.mean * s.targets - total) < 1e-6 * total, 'every shard on an in-service target');
  }
  assert.equal(j.steps.map((s: { targets: number }) => s.targets), [128, 127, 159, 158, 154]);
  const [init, fail, ext, drain, rank] = j.steps;
  assert.is(init.rebuildFanout, null); assert.is(init.moved.shards, 0);
  assert.is(fail.moved.fraction, fail.moved.idealFraction, 'exclude moves exactly the failed target\'s shards');
  assert.ok(fail.rebuildFanout.sources > 50 && fail.rebuildFanout.destinations > 50, JSON.stringify(fail.rebuildFanout));
  assert.is(ext.rebuildFanout, null);
  // the layout is state-blind: the added targets take their share of all targets (one is down)
  assert.ok(ext.moved.ratio >= 0.97 && ext.moved.ratio <= 1.1, JSON.stringify(ext.moved));
  assert.ok(ext.moved.ontoAdded > 0.99, JSON.stringify(ext.moved));
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
    checkSvg(readFileSync(svg, 'utf8'), 1);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** The plot: well-formed, three panels with axis ticks, legends right of every plot area. */
function checkSvg(text: string, algos: number): void {
  assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
  assert.match(text, /<\/svg>\s*$/);
  const opens = (text.match(/<[a-z]+[ >]/g) ?? []).length - (text.match(/\/>/g) ?? []).length;
  const closes = (text.match(/<\/[a-z]+>/g) ?? []).length;
  assert.is(opens, closes, 'balanced elements');
  for (const title of ['Shards per in-service target', 'Shards moved per step against the ideal', 'Load per node against its weight']) assert.match(text, title);
  for (const axis of ['shards on a target, % of the mean of its layout', 'targets', 'shards moved (% of all)', 'load share / weight share']) assert.ok(text.includes(`>${axis}<`), axis);
  // tick labels right-aligned left of the y axes, several per panel
  assert.ok((text.match(/text-anchor="end"[^>]*font-size="11"/g) ?? []).length >= 9, 'y ticks');
  // the plot areas end at x = 770; every legend entry starts right of it
  const legendX = [...text.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="14" height="10"/g)].map((m) => Number(m[1]));
  assert.ok(legendX.length >= 2 + algos + 1, `legend boxes ${legendX.length}`);
  for (const x of legendX) assert.ok(x > 770, `legend at x=${x} overlaps a plot`);
  for (const m of text.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#/g)) {
    if (m[3] === '14' && m[4] === '10') continue; // a legend box
    assert.ok(Number(m[1]) >= 79 && Number(m[1]) + Number(m[3]) <= 771, `bar outside its plot: ${m[0]}`);
  }
  for (const m of text.matchAll(/>([^<]*(?:NaN|undefined|Infinity)[^<]*)</g)) assert.unreachable(`bad label ${m[1]}`);
  assert.ok(text.includes('ideal (minimum)'));
}

t('the issue command (fewer objects): no violations, balance, failure moves exactly its shards, extend within 1.1x', async () => {
  const r = await run(['sim', '--nodes', '8', '--ranks-per-node', '2', '--targets-per-rank', '8', '--class', 'EC_8P2G1', '--objects', '100000',
    '--fail', 'target:37', '--extend', '2', '--seed', '911', '--json']);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  const [init, fail, ext] = j.steps;
  for (const s of j.steps) {
    assert.is(s.violations, 0);
    assert.ok(s.load.maxOverMean <= 1.06, `${s.change} max/mean ${s.load.maxOverMean}`);
    assert.is(s.domainLevel, 'rank');
  }
  assert.is(init.poolVersion, 1);
  assert.is(fail.moved.shards, Math.round(fail.moved.idealFraction * 100000 * 10));
  assert.ok(ext.moved.fraction <= 1.1 * ext.moved.idealFraction, JSON.stringify(ext.moved));
  assert.ok(Math.abs(ext.moved.ratio - 1) < 0.03, JSON.stringify(ext.moved));
  // parity rotation: a group's parity spreads over its shards instead of its last two positions
  assert.equal(j.parity.rotation, 'per-dkey');
  assert.is(j.parity.groupMaxOverMean.fixed, 5);
  assert.ok(j.parity.groupMaxOverMean.rotated < 3, JSON.stringify(j.parity));
  assert.ok(init.parityLoad.maxOverMean < 1.1, JSON.stringify(init.parityLoad));
});

t('EC_16P2G1 on 20 ranks: extend twice, reintegrate: each within 1.1x of the ideal', async () => {
  const r = await run(['sim', '--nodes', '10', '--ranks-per-node', '2', '--targets-per-rank', '4', '--class', 'EC_16P2G1', '--objects', '8000',
    '--fail', 'target:5', '--extend', '1', '--extend', '2', '--reintegrate', 'target:5', '--json']);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.steps.map((s: { change: string }) => s.change), ['initial', 'fail target:5', 'extend 1', 'extend 2', 'reintegrate target:5']);
  for (const s of j.steps) assert.is(s.violations, 0);
  for (const s of j.steps.slice(1)) assert.ok(s.moved.ratio <= 1.1 && s.moved.ratio >= 0.9, `${s.change}: ${JSON.stringify(s.moved)}`);
  assert.is(j.steps[4].moved.shards, Math.round(j.steps[4].moved.idealFraction * 8000 * 18), 'reintegration brings back exactly its shards');
});

t('heterogeneous --shape: load per node and rank within 5% of its weight; table lists the nodes', async () => {
  const r = await run(['sim', '--shape', '4x2x8,2x2x4', '--class', 'EC_8P2G1', '--objects', '40000', '--extend', '1', '--json']);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.pool, { nodes: 6, ranks: 12, targets: 80, shape: '4x2x8,2x2x4', weight: 80 });
  for (const s of j.steps) {
    assert.is(s.violations, 0);
    assert.ok(s.domainLoad.node.maxDeviation < 0.05 && s.domainLoad.rank.maxDeviation < 0.05, JSON.stringify(s.domainLoad));
  }
  assert.ok(Math.abs(j.steps[1].moved.ratio - 1) < 0.05, JSON.stringify(j.steps[1].moved));
  const t2 = await run(['sim', '--shape', '2x2x4,2x2x2@0.5', '--class', 'RP_3G1', '--objects', '20000']);
  assert.is(t2.code, 0, t2.err);
  assert.match(t2.out, /final layout per node:/);
  assert.match(t2.out, /2x2x4,2x2x2@0\.5/);
  assert.is(t2.out.split('\n').filter((l) => /^\d+ +\d+ +[\d.]+ +[\d.]+ +\d+ +[\d.]+ +[\d.]+$/.test(l)).length, 4);
});

t('--compare jump-map,ring,straw2-like: side-by-side table, JSON with one report per algorithm, one plot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sim-'));
  try {
    const svg = join(dir, 'cmp.svg');
    const r = await run(['sim', '--nodes', '8', '--ranks-per-node', '2', '--targets-per-rank', '4', '--class', 'EC_4P2G1', '--objects', '6000',
      '--fail', 'target:3', '--extend', '1', '--compare', 'jump-map,ring,straw2-like', '--plot', svg]);
    assert.is(r.code, 0, r.err);
    const head = r.out.split('\n').find((l) => l.startsWith('step: metric'))!;
    assert.match(head, /jump-map +ring +straw2-like/);
    assert.match(r.out, /extend 1: moved\/ideal/);
    checkSvg(readFileSync(svg, 'utf8'), 3);
    const j = await run(['sim', '--nodes', '8', '--ranks-per-node', '2', '--targets-per-rank', '4', '--class', 'EC_4P2G1', '--objects', '3000',
      '--extend', '1', '--compare', 'ring,straw2-like', '--json']);
    const o = JSON.parse(j.out);
    assert.equal(o.compare, ['ring', 'straw2-like']);
    assert.equal(o.reports.map((x: { algo: string }) => x.algo), ['ring', 'straw2-like']);
    for (const x of o.reports) assert.is(x.steps.length, 2);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

t('bad --plot paths: one line on stderr, exit code 2, nothing simulated', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sim-'));
  try {
    for (const plot of [join(dir, 'missing', 'x.svg'), dir + '/', join(dir, 'plot.png'), join(dir, 'file.svg', 'x.svg')]) {
      if (plot.endsWith('file.svg/x.svg')) writeFileSync(join(dir, 'file.svg'), 'not a directory');
      const r = await run(['sim', '--objects', '10', '--plot', plot]);
      assert.is(r.code, 2, plot);
      assert.is(r.out, '');
      assert.is(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, /--plot/);
    }
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
    ['sim', '--shape', '4x2', '--objects', '10'],
    ['sim', '--shape', '4x2x8,0x1x1', '--objects', '10'],
    ['sim', '--shape', '4x2x8', '--nodes', '3', '--objects', '10'],
    ['sim', '--compare', 'jump-map,crush', '--objects', '10'],
    ['sim', '--compare', 'ring,ring', '--objects', '10'],
    ['sim', '--compare', 'ring', '--algo', 'ring', '--objects', '10'],
    ['sim', '--reintegrate', 'target:3', '--objects', '10'],
    ['sim', '--dkeys', '0', '--objects', '10'],
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
