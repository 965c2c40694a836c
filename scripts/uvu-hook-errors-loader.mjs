// Module load hook registered by scripts/uvu-hook-errors.mjs (see there for why).
const UVU_RUNNER = /\/node_modules\/uvu\/dist\/index\.mjs$/;
const BEFORE_LOOP = 'for (hook of before) await hook(state);';
// On a failing `before` hook: report it as the suite's failure (message and stack, as uvu reports a
// test's) and run none of its tests, which then count as not passed.
const GUARDED =
  'try { for (hook of before) await hook(state); } catch (err) { ' +
  "errors += format('before hook', err && typeof err.name === 'string' ? err : new Error(String(err)), name); " +
  'write(FAIL); arr = []; }';

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!UVU_RUNNER.test(url)) return result;
  const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source).toString('utf8');
  if (source.split(BEFORE_LOOP).length !== 2) {
    throw new Error(`scripts/uvu-hook-errors: ${url} does not hold uvu 0.5.6's before-hook loop once; update the guard`);
  }
  return { ...result, source: source.replace(BEFORE_LOOP, GUARDED) };
}
