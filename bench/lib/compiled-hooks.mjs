// Resolve hook of compiled.mjs: a library source file (index.ts, core/, ec/, placement/, src/ under
// the checkout) resolves to its compiled twin in dist/.
let root = '';
const LIBRARY = /^(index\.ts$|(core|ec|placement|src)\/.*\.ts$)/;

export function initialize(data) { root = data.root.endsWith('/') ? data.root : `${data.root}/`; }

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (!r.url.startsWith(root)) return r;
  const rel = r.url.slice(root.length);
  if (!LIBRARY.test(rel) || rel.endsWith('.d.ts')) return r;
  return { ...r, url: `${root}dist/${rel.replace(/\.ts$/, '.js')}`, format: 'module' };
}
