/**
 * The package as a new user gets it: `npm pack` in this checkout, then `npm install <tarball>` into
 * an empty project whose PATH holds only node, npm, npx and sh (no cc, gcc, make or python), then
 * `import { Pool } from 'cairn'` round-trips objects, `npx cairn` runs, the declarations type-check
 * and node_modules stays within its budget. One pack and one install serve every assertion.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
/** The budget of a consumer's node_modules (issue 16): 40 MB. */
const MAX_CONSUMER_NODE_MODULES_BYTES = 40_000_000;
/** npm pack and npm install may take minutes on a busy machine. */
const NPM_TIMEOUT_MS = 10 * 60 * 1000;

const work = tmpDir('cairn-pack-');
const bin = join(work, 'bin');
const app = join(work, 'app');

/** `name` on the test's own PATH (to link it into the toolless bin directory). */
function which(name: string): string {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    try { accessSync(join(d, name), constants.X_OK); return join(d, name); } catch { /* next */ }
  }
  throw new Error(`${name} is not on PATH`);
}

/**
 * The environment of the consumer: our environment without npm's lifecycle variables, compiler
 * settings or NODE_OPTIONS, and with PATH = the bin directory only (registry, cache and proxy
 * settings stay, so installs work where the test's npm works).
 */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !/^npm_config_(registry|cache|userconfig|globalconfig|strict_ssl|cafile|proxy|https_proxy|noproxy)$/i.test(k)) continue;
    if (['CC', 'CXX', 'PYTHON', 'NODE_OPTIONS', 'INIT_CWD', 'CAIRN_NO_MMAP', 'CAIRN_NO_NATIVE'].includes(k)) continue;
    env[k] = v;
  }
  env.PATH = bin;
  return env;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: NPM_TIMEOUT_MS, maxBuffer: 64 << 20 });
}

const state: { tarball?: string; files?: string[]; install?: SpawnSyncReturns<string> } = {};

const t = suite('package');

t('npm pack: the tarball carries dist/, the wasm, bin/ and the native sources, and nothing of the checkout', () => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_(lifecycle|package|command)/.test(k)) delete env[k];
  const r = run(which('npm'), ['pack', '--pack-destination', work, '--json'], root, env);
  assert.is(r.status, 0, `npm pack failed:\n${r.stderr.slice(-4000)}`);
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }>; size: number; unpackedSize: number }>;
  state.tarball = join(work, info!.filename);
  state.files = info!.files.map((f) => f.path);
  console.log(`  tarball ${info!.filename}: ${info!.size} bytes, ${info!.unpackedSize} unpacked, ${state.files.length} files`);
  for (const f of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/src/cli/main.js', 'build/ec.wasm', 'build/placement.wasm',
    'bin/cairn.js', 'native/binding.gyp', 'native/cairn_uring.c', 'native/hashio.c', 'native/rebuild.c', 'native/xxh64x.h', 'scripts/build-native.mjs']) {
    assert.ok(state.files.includes(f), `${f} missing from the tarball`);
  }
  for (const f of state.files) {
    assert.not.match(f, /^(test|bench|assembly|tools|node_modules|docs)\//, `${f} should not be packed`);
    assert.not.match(f, /^native\/build\/|\.wat$|^dist\.(tmp|old)-/, `${f} should not be packed`);
  }
});

t('npm install <tarball> with no compiler on PATH succeeds and runs neither tsc nor asc', () => {
  assert.ok(state.tarball, 'no tarball (npm pack failed)');
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx']) symlinkSync(tool === 'node' ? process.execPath : which(tool), join(bin, tool));
  symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs lifecycle scripts with `sh -c`
  const env = consumerEnv();
  const tools = run('/bin/sh', ['-c', 'for t in cc gcc clang make python3 python tsc asc; do command -v $t; done; true'], work, env);
  assert.is(tools.stdout.trim(), '', `the consumer PATH must hold no toolchain, found: ${tools.stdout}`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const r = state.install = run(join(bin, 'npm'), ['install', state.tarball!, '--no-audit', '--no-fund', '--foreground-scripts'], app, env);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.is(r.status, 0, `npm install failed:\n${out.slice(-4000)}`);
  // cairn's own install script only tries the optional io_uring addon, and says why it skipped it
  assert.match(out, /build:native: io_uring addon not built \(no C compiler on PATH/);
  assert.not.match(out, /> cairn@\S+ (prepare|prepack|build)|built build\/|build:ts: compiled/, 'a consumer install must not compile TypeScript or AssemblyScript');
  const nm = join(app, 'node_modules');
  for (const f of ['cairn/dist/index.js', 'cairn/build/ec.wasm', 'cairn/bin/cairn.js']) assert.ok(existsSync(join(nm, f)), `${f} not installed`);
  for (const dev of ['typescript', 'assemblyscript', '@assemblyscript/loader', 'tsx', 'uvu', 'binaryen']) {
    assert.not.ok(existsSync(join(nm, dev)), `${dev} is installed for a consumer`);
  }
});

t(`a consumer's node_modules stays within ${MAX_CONSUMER_NODE_MODULES_BYTES / 1e6} MB`, () => {
  assert.ok(state.install?.status === 0, 'not installed');
  const du = spawnSync('du', ['-sb', join(app, 'node_modules')], { encoding: 'utf8' });
  assert.is(du.status, 0, du.stderr);
  const bytes = Number(du.stdout.split(/\s/)[0]);
  const parts = spawnSync('sh', ['-c', 'du -sb node_modules/* node_modules/@*/* 2>/dev/null | sort -rn | head -8'], { cwd: app, encoding: 'utf8' }).stdout;
  console.log(`  consumer node_modules: ${(bytes / 1e6).toFixed(1)} MB; largest:\n${parts.replace(/^/gm, '    ')}`);
  assert.ok(bytes > 1e6, `implausible size ${bytes}`);
  assert.ok(bytes <= MAX_CONSUMER_NODE_MODULES_BYTES, `node_modules is ${(bytes / 1e6).toFixed(1)} MB`);
});

t("import { Pool } from 'cairn' round-trips objects without a compiler (no mmap-io, no io_uring addon)", () => {
  assert.ok(state.install?.status === 0, 'not installed');
  writeFileSync(join(app, 'round-trip.mjs'), `
    import { Pool } from 'cairn';
    import { mkdtempSync, rmSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    const dir = mkdtempSync(join(tmpdir(), 'cairn-consumer-'));
    try {
      const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
      const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
      await c.kv('k').put('greeting', 'hello from the package');
      const data = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
      await c.array('blob').write(0, data);
      const back = await c.array('blob').read(0, data.length);
      const out = { value: new TextDecoder().decode(await c.kv('k').get('greeting')), arrayEqual: Buffer.compare(back, data) === 0, io: pool.query().ioEngine ?? null };
      await pool.close();
      console.log(JSON.stringify(out));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  `);
  const r = run(join(bin, 'node'), ['round-trip.mjs'], app, consumerEnv());
  assert.is(r.status, 0, `round trip failed: ${r.stderr.split("\n").find((l) => /^\w*Error: /.test(l)) ?? r.stderr.slice(-1500)}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { value: string; arrayEqual: boolean; io: string | null };
  assert.is(res.value, 'hello from the package');
  assert.ok(res.arrayEqual, 'array bytes differ');
  console.log(`  consumer I/O engine: ${res.io}`);
});

t('npx cairn --version prints the version; help and errors are one-liners from the packaged CLI', () => {
  assert.ok(state.install?.status === 0, 'not installed');
  const env = consumerEnv();
  const v = run(join(bin, 'npx'), ['cairn', '--version'], app, env);
  assert.is(v.status, 0, v.stderr);
  assert.is(v.stdout.trim(), pkg.version);
  const help = run(join(bin, 'npx'), ['cairn'], app, env);
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: cairn/);
  assert.is(help.stderr, '');
  const bad = run(join(bin, 'npx'), ['cairn', 'ls', 'c', '--pool', join(work, 'no-such-pool')], app, env);
  assert.is(bad.status, 1, bad.stderr);
  assert.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^cairn: NOT_FOUND: /);
});

t('the declarations type-check in a strict consumer project (stripInternal left them whole; typed events, await using, code union)', () => {
  assert.ok(state.install?.status === 0, 'not installed');
  // the shipped sources mark members @internal; no declaration file may still carry one
  const pkgDir = join(app, 'node_modules/cairn');
  const files = (readdirSync(pkgDir, { recursive: true }) as string[]).filter((f) => !f.startsWith('node_modules'));
  const marked = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && readFileSync(join(pkgDir, f), 'utf8').includes('@internal'));
  assert.ok(marked.length > 0, 'no @internal marks in the sources: the check below proves nothing');
  const leaked = files.filter((f) => f.endsWith('.d.ts') && readFileSync(join(pkgDir, f), 'utf8').includes('@internal'));
  assert.equal(leaked, [], '@internal members must leave the declarations');
  writeFileSync(join(app, 'use.ts'), `
    import { Pool, CairnError, type Container, type CairnErrorCode, type RebuildStatus } from 'cairn';
    export async function roundTrip(dir: string): Promise<string> {
      const pool: Pool = await Pool.create(dir, { nodes: 2, ranksPerNode: 1, targetsPerRank: 2 });
      const c: Container = await pool.createContainer('t', { oclass: 'RP_2G1' });
      await c.kv('k').put('x', 'y');
      const v = await c.kv('k').get('x');
      await pool.close();
      if (!v) throw new CairnError('NOT_FOUND', 'x');
      return new TextDecoder().decode(v);
    }
    // await using closes pools and containers (Symbol.asyncDispose)
    export async function disposed(dir: string): Promise<void> {
      await using pool = await Pool.open(dir, { readOnly: true });
      await using c = await pool.openContainer('t');
      await c.kv('k').has('x');
    }
    // typed events: listener arguments are inferred, wrong ones do not compile
    export function events(pool: Pool): void {
      pool.on('rebuild', (s) => { const done: number = s.objectsDone; const st: RebuildStatus['state'] = s.state; void done; void st; });
      pool.on('map', (version) => { const v: number = version; void v; });
      pool.once('scrub', (p) => { const n: number = p.objectsTotal; void n; });
      // @ts-expect-error a 'map' listener gets the version number, not a string
      pool.on('map', (version: string) => { void version; });
      // @ts-expect-error a 'rebuild' status has no such field
      pool.on('rebuild', (s) => { void s.noSuchField; });
      // @ts-expect-error no such event
      pool.on('rebuilt', () => {});
    }
    // error codes are a union: a misspelt code does not compile
    export function codes(err: CairnError): boolean {
      const known: CairnErrorCode = 'INVALID_ARGUMENT';
      // @ts-expect-error not a registry code
      const bad: CairnErrorCode = 'PLACEMENT_INVALID_ARGUMENT';
      void bad;
      return err.code === known;
    }
    // epochs in snapshots are bigints that serialise as strings
    export async function snap(c: Container): Promise<string> {
      const s = await c.snapshot();
      const e: bigint = s.epoch;
      return JSON.stringify({ s, e: e.toString() });
    }
  `);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', lib: ['ES2022', 'esnext.disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] },
    files: ['use.ts'],
  }));
  const r = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], app, process.env);
  assert.is(r.status, 0, `tsc:\n${r.stdout.slice(-4000)}`);
});

t.run();
