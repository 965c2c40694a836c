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
import type { Socket } from 'node:net';
import { nativeAddon } from '../media/io-uring.js';
import { swallowed } from '../../core/log.js';

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

/**
 * Send buffer asked for on both ends of a local (Unix) connection that carries large frames. A Unix stream socket's sender
 * may queue no more than its send buffer (net.core.wmem_default, 208 KiB here), so a 512 KiB
 * reply left in about four pieces, each a wake-up of the reader and then of the writer (measured,
 * engines probe, 1 MiB EC_2P1G1 reads: 3-4.4 context switches per request on the engine, ~4.7
 * socket reads per reply on the client). The kernel doubles the value and caps it at
 * net.core.wmem_max; 2 MiB gives room for a 1 MiB reply and its framing in one write. A limit, not
 * an allocation: an idle connection holds nothing.
 */
export const LOCAL_SOCKET_SEND_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * Frame size from which a local connection gets the larger send buffer (at its first such frame,
 * src/net/rpc.ts): a frame this large fills most of a default 208 KiB send buffer. Connections
 * that only carry small calls keep the default (in 4 alternating probe pairs of 100-byte puts at
 * 16 in flight the widened buffer was no faster: 778/1478/895/1118/1029 against
 * 899/1515/1382/924/942 puts/s, CPU per put 0.82-1.06 against 0.74-1.01 ms).
 */
export const LOCAL_WIDEN_FRAME_BYTES = 128 * 1024;

/** Sockets of this process whose send buffer `widenLocalSocket` set (for tests and benchmarks). */
export const localSocketStats = { widened: 0 };

/** `CAIRN_RPC_LOCAL_SNDBUF=0` keeps the kernel's default send buffer (A/B measurements). */
const WIDEN = process.env.CAIRN_RPC_LOCAL_SNDBUF !== '0';

/**
 * Give a connected local (Unix) socket a send buffer of `LOCAL_SOCKET_SEND_BUFFER_BYTES` (through
 * the native addon: Node sets no socket buffer sizes on stream sockets). Answers the send buffer
 * the kernel then reports, or undefined when it was left as it was: no addon (or one without
 * `setSocketBuffers`), `CAIRN_RPC_LOCAL_SNDBUF=0`, no descriptor yet, or the kernel refused (only
 * speed depends on it).
 */
export function widenLocalSocket(sock: Socket): number | undefined {
  if (!WIDEN) return undefined;
  const set = nativeAddon()?.setSocketBuffers;
  const fd = (sock as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof set !== 'function' || typeof fd !== 'number' || fd < 0) return undefined;
  try {
    const got = set(fd, LOCAL_SOCKET_SEND_BUFFER_BYTES, 0)[0];
    localSocketStats.widened++;
    return got;
  } catch (err) { swallowed('local-socket.send-buffer-not-set', err); return undefined; }
}
