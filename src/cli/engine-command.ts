/**
 * `cairn engine`: serve some targets of a connected pool until SIGTERM/SIGINT.
 * Prints one line `engine rank R listening on HOST:PORT targets A,B` on stdout once it serves
 * (scripts and tests wait for it), then events on stderr.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { intOpt, sizeOpt, readSecret, etcdUrls, checkTlsPair } from './util.js';
import { UsageError } from './errors.js';

function tlsFiles(o: { tlsCert?: string; tlsKey?: string; tlsCa?: string }): { cert: Buffer; key: Buffer; ca: Buffer } | undefined {
  const given = [o.tlsCert, o.tlsKey, o.tlsCa].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new UsageError('TLS needs --tls-cert, --tls-key and --tls-ca together');
  const read = (f: string, what: string) => { try { return readFileSync(f); } catch (err) { throw new UsageError(`cannot read ${what} ${f}: ${(err as Error).message}`); } };
  const files = { cert: read(o.tlsCert!, '--tls-cert'), key: read(o.tlsKey!, '--tls-key'), ca: read(o.tlsCa!, '--tls-ca') };
  checkTlsPair(files.cert, files.key, files.ca);
  return files;
}

/** Refuse a `--targets` path that exists and is not a directory (one usage line, before any work). */
function targetDirs(dirs: string[]): string[] {
  for (const d of dirs) {
    let st;
    try { st = statSync(d); } catch { continue; /* created by the engine */ }
    if (!st.isDirectory()) throw new UsageError(`--targets ${d} exists and is not a directory`);
  }
  return dirs;
}

export function registerEngine(program: Command): void {
  program.command('engine')
    .description('serve targets of a connected pool (pool map and membership in etcd)')
    .requiredOption('--pool <name>', 'pool name (created by its first engine)')
    .requiredOption('--etcd <urls>', 'etcd client URL(s), comma separated')
    .requiredOption('--targets <dirs...>', 'one directory per target this engine serves')
    .requiredOption('--listen <host:port>', 'address to serve on (port 0: any free port)')
    .option('--secret-file <file>', 'file holding the shared pool secret (default $CAIRN_POOL_SECRET)')
    .option('--lease-ttl <s>', 'seconds without this engine before its lease expires', '5')
    .option('--exclude-delay <ms>', 'leader: wait this long after a lease expired before excluding the engine', '2000')
    .option('--tx-timeout <ms>', 'settle a prepared write with the other engines of its commit when its decision has not come after this long', '10000')
    .option('--scm-bytes <size>', 'metadata file size per target (first engine of a pool)', '64M')
    .option('--data-bytes <size>', 'data file size per target (first engine of a pool)', '1G')
    .option('--durable', 'acknowledge a write only once it is synced to disk (survives power loss)')
    .option('--tls-cert <file>', 'serve TLS with this certificate (with --tls-key and --tls-ca)')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--tls-ca <file>', 'CA that signed the engines\' certificates (to reach peer engines)')
    .action(async (o) => {
      const secret = readSecret(o);
      if (!secret) throw new UsageError('an engine needs the pool secret: --secret-file FILE or CAIRN_POOL_SECRET');
      // every argument is checked before the engine creates anything
      const opts = {
        pool: o.pool, etcd: etcdUrls(o.etcd), targets: targetDirs(o.targets), listen: o.listen, secret,
        leaseTtl: intOpt('lease-ttl', o.leaseTtl, 5), excludeDelayMs: intOpt('exclude-delay', o.excludeDelay, 2000, 0),
        txTimeoutMs: intOpt('tx-timeout', o.txTimeout, 10_000, 100),
        scmBytes: sizeOpt('scm-bytes', o.scmBytes, 64 << 20), dataBytes: sizeOpt('data-bytes', o.dataBytes, 1 << 30),
        durable: o.durable === true,
      };
      const tls = tlsFiles(o);
      const { Engine } = await import('../engine/engine.js');
      const engine = await Engine.start({ ...opts, ...(tls ? { tls } : {}), log: (m) => process.stderr.write(m + '\n') });
      process.stdout.write(`engine rank ${engine.rank} listening on ${engine.address} targets ${engine.targetIds.join(',')}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => { process.off('SIGTERM', stop); process.off('SIGINT', stop); resolve(); };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      await engine.close();
    });
}
