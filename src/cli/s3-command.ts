/**
 * `cairn s3`: serve a pool's containers as S3 buckets until SIGTERM/SIGINT.
 * Prints one line `cairn s3 listening on http://HOST:PORT` on stdout once it serves (scripts and
 * tests wait for it); server-side failures are logged on stderr.
 *
 * Credentials: `CAIRN_S3_ACCESS_KEY` / `CAIRN_S3_SECRET_KEY`, or `--credentials-file FILE` with
 * one `ACCESS_KEY:SECRET_KEY` per line (`#` starts a comment).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { withPool } from './pool-commands.js';
import { poolOptions, intOpt, checkTlsPair } from './util.js';
import { toObjectClass } from '../../placement/index.js';
import { failuresTolerated } from '../container/container.js';
import { CairnError } from '../../core/errors.js';
import { MAX_REDUNDANCY_FACTOR } from '../pool/pool-args.js';
import { UsageError } from './errors.js';
import type { S3Credentials } from '../s3/index.js';

/** Parse `HOST:PORT`, `[v6]:PORT` or `PORT`. */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v) ?? (/^\d+$/.test(v) ? [v, undefined, '', v] : null);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--listen must be HOST:PORT, got ${JSON.stringify(v)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The access keys of the gateway: a credentials file, else the environment. */
export function readCredentials(file: string | undefined, env: NodeJS.ProcessEnv = process.env): S3Credentials[] {
  if (file !== undefined) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (err) { throw new UsageError(`cannot read --credentials-file ${file}: ${(err as Error).message}`); }
    const out: S3Credentials[] = [];
    text.split('\n').forEach((line, i) => {
      const l = line.replace(/#.*/, '').trim();
      if (l === '') return;
      const c = l.indexOf(':');
      if (c <= 0 || c === l.length - 1) throw new UsageError(`${file}:${i + 1}: expected ACCESS_KEY:SECRET_KEY`);
      out.push({ accessKey: l.slice(0, c), secretKey: l.slice(c + 1) });
    });
    if (out.length === 0) throw new UsageError(`${file} holds no credentials`);
    return out;
  }
  const accessKey = env.CAIRN_S3_ACCESS_KEY, secretKey = env.CAIRN_S3_SECRET_KEY;
  if (!accessKey || !secretKey) throw new UsageError('the S3 gateway needs credentials: CAIRN_S3_ACCESS_KEY and CAIRN_S3_SECRET_KEY, or --credentials-file FILE');
  return [{ accessKey, secretKey }];
}

function readPem(file: string, what: string): Buffer {
  try { return readFileSync(file); } catch (err) { throw new UsageError(`cannot read ${what} ${file}: ${(err as Error).message}`); }
}

export function registerS3(program: Command): void {
  poolOptions(program.command('s3')
    .description('serve the pool\'s containers as S3 buckets (AWS Signature V4)'))
    .requiredOption('--listen <host:port>', 'address to serve on (port 0: any free port)')
    .option('--credentials-file <file>', 'ACCESS_KEY:SECRET_KEY lines (default $CAIRN_S3_ACCESS_KEY / $CAIRN_S3_SECRET_KEY)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (with --tls-key)')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--region <name>', 'region reported to clients', 'us-east-1')
    .option('--domain <name>', 'also serve virtual-hosted-style requests to BUCKET.<name>')
    .option('--max-requests <n>', 'requests served at once (more get 503 SlowDown)', '64')
    .option('--oclass <class>', 'object class of buckets created through S3 (default: the pool\'s default)')
    .option('--redundancy-factor <n>', 'redundancy factor of buckets created through S3', '0')
    .action(async (o) => {
      const listen = parseListen(String(o.listen));
      const credentials = readCredentials(o.credentialsFile);
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('TLS needs --tls-cert and --tls-key together');
      const tls = o.tlsCert ? { cert: readPem(o.tlsCert, '--tls-cert'), key: readPem(o.tlsKey, '--tls-key') } : undefined;
      if (tls) checkTlsPair(tls.cert, tls.key);
      const maxConcurrentRequests = intOpt('max-requests', o.maxRequests, 64);
      const redundancyFactor = intOpt('redundancy-factor', o.redundancyFactor, 0, 0, MAX_REDUNDANCY_FACTOR);
      // the bucket defaults are checked now, not when the first client creates a bucket
      if (o.oclass !== undefined) {
        const cls = toObjectClass(o.oclass);
        if (failuresTolerated(cls) < redundancyFactor) {
          throw new CairnError('RF_VIOLATION', `--oclass ${cls.name} survives ${failuresTolerated(cls)} failed domain(s), below --redundancy-factor ${redundancyFactor}`);
        }
      }
      await withPool(o, async (pool) => {
        const { createS3Server } = await import('../s3/index.js');
        const server = createS3Server(pool, {
          credentials, tls, region: o.region, domain: o.domain, maxConcurrentRequests,
          bucketDefaults: { ...(o.oclass ? { oclass: o.oclass } : {}), redundancyFactor },
          log: (line) => process.stderr.write(line + '\n'),
        });
        const { url } = await server.listen(listen.port, listen.host);
        process.stdout.write(`cairn s3 listening on ${url}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => { process.off('SIGTERM', stop); process.off('SIGINT', stop); resolve(); };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        await server.close();
      });
    });
}
