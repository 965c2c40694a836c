/**
 * The layers of Cairn import one way. Every import statement (type imports, re-exports, side-effect
 * and dynamic imports included) of core, ec, placement and src/* is parsed and resolved to the
 * folder it names; each folder may import only folders of strictly lower layers (and itself), so
 * the folder graph has no cycle. `LAYERS` is the one list of the order (docs/architecture.md shows
 * the same picture); a new folder must be placed in it.
 *
 * The package entry (root index.ts) re-exports every layer (the access layers dfs, s3 and level
 * included, so they import the library entry src/index.ts and core/placement, never the package
 * entry). An import of the package entry is resolved name by name: a name the entry re-exports
 * from a folder is an import of that folder; every other name comes from the library entry or below.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** Bottom first. Folders in one entry are peers: they may not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['core'],                                   // errors, wasm loader, Rng, xxhash, bytes, locks, semaphore, waits, log
  ['src/media'],                              // block device (io_uring | pread), pmem file, fault injection
  ['src/vos'],                                // per-target versioned store
  ['ec', 'placement'],                        // Reed-Solomon codecs; pool map, object classes, layouts
  ['src/io'],                                 // object I/O: EC / replica / stripe data path, ShardStore
  ['src/container'],                          // container core: epochs, commits, journal, snapshots, watch, conflicts
  ['src/object'],                             // handles: objects, KV, arrays, transactions, the public Container
  ['src/pool'],                               // pools: local backend, rebuild / rebalance, scrub
  ['src/net'],                                // RPC, etcd, shard RPC, protocol, the connected pool client
  ['src/engine'],                             // cairn engine: serves targets, 2PC, leader duties
  ['src/index'],                              // the library entry (src/index.ts): the public API
  ['src/bench', 'src/dfs', 'src/s3', 'src/level'], // workloads and access layers, on the public API
  ['src/cli'],                                // the cairn command
];

/** The node of the package entry (root index.ts), resolved name by name (see above). */
const PACKAGE = 'index';

/** Strip comments (block, and line comments not preceded by ':' as in URLs) so that code in doc comments is not read as imports. */
export function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
}

/** One import: the module specifier and the names it binds (undefined: a namespace, side-effect or dynamic import). */
export interface ImportRef { spec: string; names?: string[] }

/** Every import / re-export / side-effect / dynamic import of a module's source text. */
export function parseImports(text: string): ImportRef[] {
  const src = stripComments(text);
  const out: ImportRef[] = [];
  // import x, { a, type b as c } from '...';  import type { T } from '...';  export { a } from '...';  export * from '...'
  for (const m of src.matchAll(/(?:^|[;\n])\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g)) {
    const clause = m[3]!;
    const braces = /\{([^}]*)\}/.exec(clause);
    const names = braces && !/\*/.test(clause.replace(braces[0], '')) && !/^\s*[A-Za-z_$][\w$]*\s*,/.test(clause)
      ? braces[1]!.split(',').map((x) => x.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim()).filter(Boolean)
      : undefined;
    out.push({ spec: m[4]!, ...(names ? { names } : {}) });
  }
  for (const m of src.matchAll(/(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) out.push({ spec: m[1]! });
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]! });
  return out;
}

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The node (folder) of a repository file, or undefined when outside the layered code. */
export function nodeOf(file: string): string | undefined {
  const rel = relative(root, file).replace(/\\/g, '/');
  if (rel === 'index.ts') return PACKAGE;
  if (rel === 'src/index.ts') return 'src/index';
  const parts = rel.split('/');
  if (parts[0] === 'src' && parts.length >= 3) return `src/${parts[1]}`;
  if (['core', 'ec', 'placement'].includes(parts[0]!) && parts.length >= 2) return parts[0];
  return undefined;
}

/** The file a relative specifier names (`.js` written for `.ts`, as NodeNext wants). */
function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const p = resolve(dirname(from), spec);
  for (const c of [p.replace(/\.js$/, '.ts'), p, `${p}.ts`, join(p, 'index.ts')]) if (existsSync(c) && statSync(c).isFile()) return c;
  return p.replace(/\.js$/, '.ts'); // an import of a missing file still names its folder
}

/** The folder each name re-exported by the package entry comes from (names it does not list come from src/index or below). */
function packageNames(): Map<string, string> {
  const file = join(root, 'index.ts');
  const out = new Map<string, string>();
  for (const ref of parseImports(readFileSync(file, 'utf8'))) {
    const target = resolveSpec(file, ref.spec);
    const node = target && nodeOf(target);
    if (node && ref.names) for (const n of ref.names) out.set(n, node);
  }
  return out;
}

/** Folder -> folders it imports, with one example file per edge. */
export function folderGraph(): Map<string, Map<string, string>> {
  const files = [join(root, 'index.ts'), ...['core', 'ec', 'placement', 'src'].flatMap((d) => walk(join(root, d)))];
  const fromPackage = packageNames();
  const graph = new Map<string, Map<string, string>>();
  for (const f of files) {
    const from = nodeOf(f);
    if (!from) continue;
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const ref of parseImports(readFileSync(f, 'utf8'))) {
      const target = resolveSpec(f, ref.spec);
      const to = target && nodeOf(target);
      if (!to) continue;
      const tos: string[] = to === PACKAGE && from !== PACKAGE
        ? (ref.names ? ref.names.map((n) => fromPackage.get(n) ?? 'src/index') : [...new Set([...fromPackage.values(), 'src/index'])])
        : [to];
      for (const t of tos) if (t !== from && !edges.has(t)) edges.set(t, relative(root, f));
    }
  }
  return graph;
}

const layerOf = new Map<string, number>(LAYERS.flatMap((l, i) => l.map((n) => [n, i] as [string, number])));

test('the import parser sees every kind of import, and no import in comments', () => {
  const refs = parseImports([
    "import { a, type B as C } from './x.js';",
    'import type {',
    '  D,',
    "} from '../y/z.js';",
    "export * from './star.js';",
    "export { e } from './re.js';",
    "import './side.js';",
    "const m = await import('./dyn.js');",
    "type T = import('./typepos.js').T;",
    "/** `import { f } from './in-doc.js'` */",
    "// import { g } from './in-line-comment.js';",
    "const url = 'http://host/x'; import * as ns from './ns.js';",
  ].join('\n'));
  assert.equal(refs.map((r) => r.spec).sort(), ['../y/z.js', './dyn.js', './ns.js', './re.js', './side.js', './star.js', './typepos.js', './x.js'].sort());
  assert.equal(refs.find((r) => r.spec === './x.js')!.names, ['a', 'B']);
  assert.equal(refs.find((r) => r.spec === '../y/z.js')!.names, ['D']);
  assert.is(refs.find((r) => r.spec === './ns.js')!.names, undefined);
});

test('the graph holds the real imports (type imports too)', () => {
  const g = folderGraph();
  assert.ok(g.get('src/pool')?.has('src/container'), 'pool imports the container layer');
  assert.ok(g.get('src/container')?.has('src/io'), 'container imports object I/O');
  assert.ok(g.get('src/io')?.has('core'), 'io imports core');
  assert.ok(g.get('src/net')?.has('src/pool'), 'the network layer installs Pool.connect');
  assert.ok(g.get('src/engine')?.has('src/net'), 'the engine imports the network layer');
});

test('every folder is placed in exactly one layer', () => {
  const placed = LAYERS.flat();
  assert.equal(placed.length, new Set(placed).size, 'a folder is listed twice');
  const unplaced = [...folderGraph().keys()].filter((n) => n !== PACKAGE && !layerOf.has(n));
  assert.equal(unplaced, [], `add these folders to LAYERS in test/structure.test.ts (and the picture in docs/architecture.md): ${unplaced.join(', ')}`);
});

test('imports run downwards only: each folder imports strictly lower layers', () => {
  const bad: string[] = [];
  for (const [from, edges] of folderGraph()) {
    if (from === PACKAGE) continue; // the package entry re-exports every layer by design
    for (const [to, example] of edges) {
      const a = layerOf.get(from), b = layerOf.get(to);
      if (a === undefined || b === undefined) continue; // reported by the test above
      if (b >= a) bad.push(`${from} (layer ${a}) imports ${to} (layer ${b}), e.g. in ${example}`);
    }
  }
  assert.equal(bad, [], `imports that run upwards or sideways:\n${bad.join('\n')}`);
});

test('no folder-level import cycle among core, ec, placement and src/*', () => {
  const g = folderGraph();
  g.delete(PACKAGE);
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'open') { cycles.push([...path.slice(path.indexOf(n)), n].join(' -> ')); return; }
    state.set(n, 'open');
    for (const m of g.get(n)?.keys() ?? []) if (m !== PACKAGE) visit(m, [...path, n]);
    state.set(n, 'done');
  };
  for (const n of g.keys()) visit(n, []);
  assert.equal(cycles, []);
});

test('benchmarks do not import tests', () => {
  const bad: string[] = [];
  for (const f of walk(join(root, 'bench'))) {
    for (const ref of parseImports(readFileSync(f, 'utf8'))) {
      const target = resolveSpec(f, ref.spec);
      if (target && relative(root, target).startsWith('test/')) bad.push(`${relative(root, f)} imports ${ref.spec}`);
    }
  }
  assert.equal(bad, []);
});

test.run();
