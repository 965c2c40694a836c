/**
 * The error registry: every code is defined once, in core/errors.ts, with its meaning; no layer
 * spells a code that is not in it, and no layer defines codes of its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ERROR_CODES, CairnError, isErrorCode, InvalidArgumentError } from '../../core/errors.js';

const root = new URL('../..', import.meta.url).pathname;
/** Node's error codes, which code may compare against (they are not Cairn codes). */
const NODE_CODE = /^(E[A-Z]{2,}|ERR_[A-Z0-9_]+|HPE_[A-Z_]+|MODULE_NOT_FOUND)$/;

function sources(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push(p);
    }
  };
  for (const d of ['core', 'ec', 'placement', 'src']) walk(join(root, d));
  out.push(join(root, 'index.ts'));
  return out;
}

test('every code has a meaning of its own', () => {
  const codes = Object.keys(ERROR_CODES);
  assert.ok(codes.length > 20);
  for (const c of codes) {
    assert.match(c, /^[A-Z][A-Z0-9_]+$/);
    assert.ok((ERROR_CODES as Record<string, string>)[c]!.length > 15, `${c} is explained`);
  }
  assert.is(new Set(Object.values(ERROR_CODES)).size, codes.length, 'no two codes share a meaning');
});

test('no source constructs or compares a code outside the registry', () => {
  const bad: string[] = [];
  // `new SomethingError('CODE'`, `code === 'CODE'`, `code: 'CODE'`, `case 'CODE':` next to an error
  const patterns = [
    /new [A-Za-z]*Error\(\s*'([A-Z][A-Z0-9_]+)'/g,
    /\.code\s*[!=]==\s*'([A-Z][A-Z0-9_]+)'/g,
    /\bcode\s*[!=]==\s*'([A-Z][A-Z0-9_]+)'/g,
    /\bcode:\s*'([A-Z][A-Z0-9_]+)'/g,
  ];
  for (const f of sources()) {
    if (f.endsWith('core/errors.ts')) continue;
    // Node's errno codes (`(err as NodeJS.ErrnoException).code === 'EPERM'`) are not Cairn codes.
    const text = readFileSync(f, 'utf8').split('\n').filter((l) => !l.includes('ErrnoException')).join('\n');
    for (const re of patterns) {
      // comparisons may test Node's own codes (errno names, ERR_*, its HTTP parser's HPE_*, MODULE_NOT_FOUND); constructions never
      const nodeCodeOk = re !== patterns[0];
      for (const m of text.matchAll(re)) if (!isErrorCode(m[1]) && !(nodeCodeOk && NODE_CODE.test(m[1]!))) bad.push(`${relative(root, f)}: ${m[1]}`);
    }
  }
  assert.equal(bad, [], `codes outside the registry:\n${bad.join('\n')}`);
});

test('no layer defines an error code type or table of its own', () => {
  const bad: string[] = [];
  for (const f of sources()) {
    if (f.endsWith('core/errors.ts')) continue;
    const text = readFileSync(f, 'utf8');
    if (/export (type|const) \w*ErrorCode\w*\s*=/.test(text)) bad.push(relative(root, f));
  }
  assert.equal(bad, []);
});

test('CairnError carries code and info; InvalidArgumentError is INVALID_ARGUMENT', () => {
  const e = new InvalidArgumentError('bad', { x: 1 });
  assert.instance(e, CairnError);
  assert.is(e.code, 'INVALID_ARGUMENT');
  assert.equal(e.info, { x: 1 });
  assert.is(e.name, 'InvalidArgumentError');
  assert.ok(isErrorCode('DATA_LOST'));
  assert.not.ok(isErrorCode('VOS_INVALID_ARGUMENT'));
});

test.run();
