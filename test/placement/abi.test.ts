/**
 * The layout ABI is one file (assembly/placement/abi.ts) compiled by both AssemblyScript and
 * TypeScript: both sides import it, and the core refuses a header not written for it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ABI from '../../assembly/placement/abi.js';
import { PlacementCore } from '../../placement/wasm.js';
import { PoolMap, createPlacement, makeObjectId } from '../../placement/index.js';

const t = suite('layout-abi');
const root = new URL('../..', import.meta.url).pathname;

t('both sides import the one ABI file, and neither spells an offset of its own', () => {
  const kernel = readFileSync(join(root, 'assembly/placement/layout.ts'), 'utf8');
  const engine = readFileSync(join(root, 'placement/engine.ts'), 'utf8');
  assert.match(kernel, /from '\.\/abi'/);
  assert.match(engine, /from '\.\.\/assembly\/placement\/abi\.js'/);
  for (const [name, text] of [['layout.ts', kernel], ['engine.ts', engine]] as const) {
    assert.not.match(text, /const H_[A-Z_]+\s*=/, `${name} defines a header offset`);
  }
});

t('header words are distinct, in range, and the magic carries the version', () => {
  const words = Object.entries(ABI).filter(([k]) => k.startsWith('H_')).map(([, v]) => v as number);
  assert.ok(words.length >= 29);
  assert.is(new Set(words).size, words.length);
  for (const w of words) assert.ok(Number.isInteger(w) && w >= 0 && w < ABI.HEADER_WORDS);
  assert.is(ABI.LAYOUT_ABI_MAGIC & 0xff, ABI.LAYOUT_ABI_VERSION);
  assert.is(ABI.H_MAGIC, 0);
});

t('the core refuses a header with another magic, and lays out with the right one', () => {
  const core = new PlacementCore();
  const hp = core.reserve(4 * ABI.HEADER_WORDS), op = core.reserve(16), outp = core.reserve(64);
  new Int32Array(core.buffer, hp, ABI.HEADER_WORDS).fill(0);
  new Int32Array(core.buffer, hp, 1)[0] = ABI.LAYOUT_ABI_MAGIC - 1;
  assert.is(core.exports.layoutBatch(hp, op, 1, outp), ABI.LAYOUT_ERR_ABI);
  // a header with the magic but an impossible group size is refused too
  new Int32Array(core.buffer, hp, 1)[0] = ABI.LAYOUT_ABI_MAGIC;
  assert.is(core.exports.layoutBatch(hp, op, 1, outp), ABI.LAYOUT_ERR_ABI);
  const l = createPlacement(PoolMap.create({ nodes: 4, ranksPerNode: 2, targetsPerRank: 2 })).layout(makeObjectId(9n, 'EC_4P2G1'));
  assert.is(l.groups[0]!.length, 6);
});

t.run();
