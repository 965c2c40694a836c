/**
 * Unix sockets between an engine and the clients (and peer engines) on its own host. Over
 * loopback TCP every small request and reply runs the whole TCP stack twice (data and ACK
 * segments, processed in the sender's system call); a Unix stream socket hands the bytes straight
 * to the peer's queue. The engine listens on both, and names its socket in its etcd record with
 * the kernel's boot id; a process that reads the record uses the socket only when its own boot id
 * is the same (the same running kernel: the same host) and falls back to TCP when connecting
 * fails (another mount namespace, a stale record). The handshake and frames are the same on both,
 * so the pool secret is checked either way. `CAIRN_RPC_LOCAL=0` turns it off (engines listen on
 * TCP alone and clients ignore sockets), for comparisons.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Whether local sockets are used (`CAIRN_RPC_LOCAL=0` turns them off). */
export function localSocketsEnabled(): boolean { return process.env.CAIRN_RPC_LOCAL !== '0'; }

let bootId: string | undefined | null = null;

/** The running kernel's boot id (Linux), or undefined where there is none (no local sockets then). */
export function hostBootId(): string | undefined {
  if (bootId === null) {
    try { bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined; } catch { bootId = undefined; }
  }
  return bootId;
}

/**
 * Where the engine whose first target directory is `firstTarget` listens for local clients: one
 * fixed path per engine (a restarted engine replaces the file its killed predecessor left), in the
 * temporary directory, named by a hash of the directory (target paths can exceed a socket path's
 * limit, and a target directory may be wiped while the engine serves).
 */
export function localSocketPath(firstTarget: string): string | undefined {
  const p = join(tmpdir(), `cairn-engine-${createHash('sha256').update(firstTarget).digest('hex').slice(0, 20)}.sock`);
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES ? p : undefined;
}

/** How an engine record names its local socket. */
export interface LocalSocketRecord { boot: string; path: string }

/** The socket path of an engine record to use from this process, if it is on this host. */
export function localPathOf(rec: { local?: LocalSocketRecord }): string | undefined {
  const l = rec.local;
  if (!localSocketsEnabled() || !l || typeof l.path !== 'string' || typeof l.boot !== 'string') return undefined;
  return l.boot === hostBootId() ? l.path : undefined;
}
