/**
 * Shared set-up of the S3 tests: an embedded pool in a temporary directory served by an in-process
 * gateway on a free loopback port, and clients configured for it.
 */
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { Pool } from '../../src/pool/pool.js';
import { createS3Server, type S3Server, type S3ServerOptions } from '../../src/s3/index.js';
import { tmpDir } from '../helpers/tmp.js';

export const ACCESS_KEY = 'cairn-test-key';
export const SECRET_KEY = 'cairn-test-secret-0123456789';

/** A running gateway over a fresh pool. */
export interface Gateway { pool: Pool; server: S3Server; url: string; port: number; close(): Promise<void> }

/** Start a gateway over a new embedded pool of `ranks` ranks (one target each). */
export async function startGateway(opts: Partial<S3ServerOptions> & { ranks?: number } = {}): Promise<Gateway> {
  const ranks = opts.ranks ?? 4;
  const pool = await Pool.create(join(tmpDir('cairn-s3-'), 'pool'), { nodes: ranks / 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 256 << 20 });
  const server = createS3Server(pool, { credentials: { accessKey: ACCESS_KEY, secretKey: SECRET_KEY }, ...opts });
  const { url, port } = await server.listen(0, '127.0.0.1');
  return { pool, server, url, port, close: async () => { await server.close(); await pool.close(); } };
}

/** An AWS SDK v3 client for the gateway (path-style), with its default checksum behaviour. */
export function sdkClient(url: string, secretKey = SECRET_KEY, accessKey = ACCESS_KEY): S3Client {
  return new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey }, maxAttempts: 1 });
}
