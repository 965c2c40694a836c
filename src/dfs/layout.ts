/**
 * The on-object format of the POSIX namespace (docs/dfs.md has the full description).
 *
 * - Superblock: the object named `cairn.dfs.superblock`, dkey `sb`, akey `v`: format byte,
 *   magic `CDFS`, the root directory's object id and the default chunk size.
 * - Directory: one object; each entry is a dkey (the entry's UTF-8 name) with one single value
 *   under akey `e`, the *dirent*: format byte, type and the entry's object id (a symlink's dirent
 *   also holds its inode and target, as it has no object). The directory's own inode is dkey 0x00
 *   (no name can contain NUL, so it never collides with an entry and sorts before every entry).
 * - File: one object; its inode is dkey 0x00 akey `i` (size, times, mode, chunk size); its bytes
 *   are cut into chunks of `chunkSize` bytes, chunk `n` stored as an array extent under dkey
 *   `n` (8 bytes big-endian, so byte order is numeric order) akey `d`. A write commits its chunk
 *   extents and the new inode (size, mtime) in one transaction, so the size never disagrees with
 *   the data after a crash.
 *
 * Every value starts with a format byte (kind and version in one), so the format can evolve:
 * readers refuse a kind they do not know (`CORRUPTED`) and a newer version (`FORMAT_VERSION`).
 */
import { CorruptionError } from '../../core/errors.js';

/** Entry types (stored as one byte). */
export const NodeType = { File: 1, Dir: 2, Symlink: 3 } as const;
/** An entry type: `NodeType.File`, `NodeType.Dir` or `NodeType.Symlink`. */
export type NodeType = (typeof NodeType)[keyof typeof NodeType];

/** Format bytes: kind and version in one byte. */
export const SUPERBLOCK_FORMAT_V1 = 0x51;
export const INODE_FORMAT_V1 = 0x49;
export const DIRENT_FORMAT_V1 = 0x44;

/** Name of the superblock object. */
export const SUPERBLOCK_OBJECT = 'cairn.dfs.superblock';
export const SUPERBLOCK_DKEY = 'sb';
export const SUPERBLOCK_AKEY = 'v';
const SUPERBLOCK_MAGIC = [0x43, 0x44, 0x46, 0x53]; // "CDFS"
/** dkey of an object's inode (directories and files). */
export const INODE_DKEY = new Uint8Array([0x00]);
export const INODE_AKEY = 'i';
/** akey of a dirent under its name's dkey. */
export const DIRENT_AKEY = 'e';
/** akey of a file chunk's bytes under the chunk's dkey. */
export const CHUNK_AKEY = 'd';

/** Size of an encoded inode (bytes). */
export const INODE_BYTES = 64;
/** Longest entry name in UTF-8 bytes (NAME_MAX). */
export const NAME_MAX_BYTES = 255;
/** Longest path a call takes, in UTF-8 bytes (PATH_MAX). */
export const PATH_MAX_BYTES = 4096;
/** Longest symlink target in bytes (PATH_MAX). */
export const SYMLINK_MAX_BYTES = 4096;
/** Default bytes per file chunk. */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Largest chunk a file may use (bytes). */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
/** Smallest chunk a file may use (bytes). */
export const MIN_CHUNK_BYTES = 4096;

/** POSIX file type bits of `mode`. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** An inode: the attributes of a file, directory or symlink. Times are nanoseconds since 1970. */
export interface Inode {
  type: NodeType;
  /** Permission bits and file type bits (S_IFREG, S_IFDIR, S_IFLNK). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes (files), target length (symlinks), 0 (directories). */
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  /** Bytes per chunk (files; 0 otherwise). */
  chunkSize: number;
}

/** A directory entry: type, object id, and for symlinks the inode and target. */
export interface Dirent {
  type: NodeType;
  oid: bigint;
  /** Symlinks only. */
  inode?: Inode;
  /** Symlinks only. */
  target?: string;
}

/** The superblock of a namespace. */
export interface Superblock { rootOid: bigint; chunkSize: number; createdNs: bigint }

/** File type bits of a node type. */
export function typeBits(t: NodeType): number { return t === NodeType.Dir ? S_IFDIR : t === NodeType.Symlink ? S_IFLNK : S_IFREG; }

function checkFormat(b: Uint8Array | undefined, format: number, what: string, min: number): DataView {
  if (!b || b.length < min) throw new CorruptionError(`dfs ${what} is ${b?.length ?? 0} bytes, needs at least ${min}`, { what });
  if (b[0] !== format) {
    if (b[0]! > format && b[0]! - format < 16) throw new CorruptionError(`dfs ${what} format 0x${b[0]!.toString(16)} is newer than this build reads (0x${format.toString(16)}); upgrade Cairn`, { what }, 'FORMAT_VERSION');
    throw new CorruptionError(`dfs ${what} has format byte 0x${b[0]!.toString(16)}, expected 0x${format.toString(16)}`, { what });
  }
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function putOid(v: DataView, at: number, oid: bigint): void {
  v.setBigUint64(at, oid >> 64n, false);
  v.setBigUint64(at + 8, oid & 0xffff_ffff_ffff_ffffn, false);
}
function getOid(v: DataView, at: number): bigint { return (v.getBigUint64(at, false) << 64n) | v.getBigUint64(at + 8, false); }

/** Encode an inode (64 bytes). */
export function encodeInode(n: Inode, out = new Uint8Array(INODE_BYTES), at = 0): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset + at, INODE_BYTES);
  v.setUint8(0, INODE_FORMAT_V1);
  v.setUint8(1, n.type);
  v.setUint32(4, n.mode >>> 0, false);
  v.setUint32(8, n.uid >>> 0, false);
  v.setUint32(12, n.gid >>> 0, false);
  v.setBigUint64(16, BigInt(n.size), false);
  v.setBigInt64(24, n.atimeNs, false);
  v.setBigInt64(32, n.mtimeNs, false);
  v.setBigInt64(40, n.ctimeNs, false);
  v.setBigInt64(48, n.birthtimeNs, false);
  v.setUint32(56, n.chunkSize >>> 0, false);
  return out;
}

/** Decode an inode; `CORRUPTED` / `FORMAT_VERSION` when it is not one this build writes. */
export function decodeInode(b: Uint8Array | undefined, at = 0): Inode {
  const v = checkFormat(b?.subarray(at), INODE_FORMAT_V1, 'inode', INODE_BYTES);
  const type = v.getUint8(1) as NodeType;
  if (type !== NodeType.File && type !== NodeType.Dir && type !== NodeType.Symlink) throw new CorruptionError(`dfs inode has unknown type ${type}`);
  return {
    type, mode: v.getUint32(4, false), uid: v.getUint32(8, false), gid: v.getUint32(12, false),
    size: Number(v.getBigUint64(16, false)),
    atimeNs: v.getBigInt64(24, false), mtimeNs: v.getBigInt64(32, false), ctimeNs: v.getBigInt64(40, false), birthtimeNs: v.getBigInt64(48, false),
    chunkSize: v.getUint32(56, false),
  };
}

/** Encode a dirent. */
export function encodeDirent(d: Dirent): Uint8Array {
  const target = d.type === NodeType.Symlink ? Buffer.from(d.target ?? '', 'utf8') : undefined;
  const out = new Uint8Array(18 + (target ? INODE_BYTES + target.length : 0));
  const v = new DataView(out.buffer);
  v.setUint8(0, DIRENT_FORMAT_V1);
  v.setUint8(1, d.type);
  putOid(v, 2, d.oid);
  if (target) {
    encodeInode(d.inode!, out, 18);
    out.set(target, 18 + INODE_BYTES);
  }
  return out;
}

/** Decode a dirent. */
export function decodeDirent(b: Uint8Array | undefined): Dirent {
  const v = checkFormat(b, DIRENT_FORMAT_V1, 'dirent', 18);
  const type = v.getUint8(1) as NodeType;
  if (type === NodeType.Symlink) {
    const inode = decodeInode(b, 18);
    return { type, oid: 0n, inode, target: Buffer.from(b!.buffer, b!.byteOffset + 18 + INODE_BYTES, b!.length - 18 - INODE_BYTES).toString('utf8') };
  }
  if (type !== NodeType.File && type !== NodeType.Dir) throw new CorruptionError(`dfs dirent has unknown type ${type}`);
  return { type, oid: getOid(v, 2) };
}

/** Encode the superblock. */
export function encodeSuperblock(s: Superblock): Uint8Array {
  const out = new Uint8Array(40);
  const v = new DataView(out.buffer);
  v.setUint8(0, SUPERBLOCK_FORMAT_V1);
  out.set(SUPERBLOCK_MAGIC, 1);
  putOid(v, 8, s.rootOid);
  v.setUint32(24, s.chunkSize, false);
  v.setBigInt64(32, s.createdNs, false);
  return out;
}

/** Decode the superblock. */
export function decodeSuperblock(b: Uint8Array | undefined): Superblock {
  const v = checkFormat(b, SUPERBLOCK_FORMAT_V1, 'superblock', 40);
  if (SUPERBLOCK_MAGIC.some((m, i) => b![1 + i] !== m)) throw new CorruptionError('dfs superblock has a bad magic');
  return { rootOid: getOid(v, 8), chunkSize: v.getUint32(24, false), createdNs: v.getBigInt64(32, false) };
}

/** dkey of chunk `n` of a file: 8 bytes big-endian. */
export function chunkKey(n: number): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setBigUint64(0, BigInt(n), false);
  return k;
}

/** The chunk index of a chunk dkey, or undefined for other dkeys (the inode). */
export function chunkIndex(k: Uint8Array): number | undefined {
  if (k.length !== 8) return undefined;
  return Number(new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0, false));
}

/** Now in nanoseconds since 1970. */
export function nowNs(): bigint { return BigInt(Date.now()) * 1_000_000n; }
