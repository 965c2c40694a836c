/**
 * `DfsStats` and `DfsDirent`: the shapes `node:fs` returns from `stat` and
 * `readdir({ withFileTypes: true })`, built from a namespace inode or dirent.
 */
import { NodeType, S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, type Inode } from './layout.js';

/** Block size reported in `st_blocks` units (POSIX: 512 bytes). */
const STAT_BLOCK_BYTES = 512;

const nsToMs = (ns: bigint): number => Number(ns / 1000n) / 1000;

/** File attributes, shaped like `fs.Stats` (times as `Date` and milliseconds). */
export class DfsStats {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev = 0;
  readonly size: number;
  readonly blksize: number;
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  readonly atime: Date;
  readonly mtime: Date;
  readonly ctime: Date;
  readonly birthtime: Date;
  /** Nanosecond times (the stored precision). */
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** Bytes per chunk of a file (0 for directories and symlinks). */
  readonly chunkSize: number;
  /** The object holding the file or directory (0n for symlinks). */
  readonly oid: bigint;

  /** @internal built by `Dfs.stat` and friends. */
  constructor(inode: Inode, oid: bigint, dev: number) {
    this.dev = dev;
    // A stable number per object (its low 48 bits), unique enough for tools that compare inodes.
    this.ino = Number(oid & 0xffff_ffff_ffffn) || 1;
    this.mode = inode.mode;
    this.nlink = 1;
    this.uid = inode.uid;
    this.gid = inode.gid;
    this.size = inode.size;
    this.chunkSize = inode.chunkSize;
    this.blksize = inode.type === NodeType.File ? Math.min(inode.chunkSize, 128 * 1024) || 4096 : 4096;
    this.blocks = Math.ceil(inode.size / STAT_BLOCK_BYTES);
    this.atimeNs = inode.atimeNs; this.mtimeNs = inode.mtimeNs; this.ctimeNs = inode.ctimeNs;
    this.atimeMs = nsToMs(inode.atimeNs); this.mtimeMs = nsToMs(inode.mtimeNs);
    this.ctimeMs = nsToMs(inode.ctimeNs); this.birthtimeMs = nsToMs(inode.birthtimeNs);
    this.atime = new Date(this.atimeMs); this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs); this.birthtime = new Date(this.birthtimeMs);
    this.oid = oid;
  }

  isFile(): boolean { return (this.mode & S_IFMT) === S_IFREG; }
  isDirectory(): boolean { return (this.mode & S_IFMT) === S_IFDIR; }
  isSymbolicLink(): boolean { return (this.mode & S_IFMT) === S_IFLNK; }
  isBlockDevice(): boolean { return false; }
  isCharacterDevice(): boolean { return false; }
  isFIFO(): boolean { return false; }
  isSocket(): boolean { return false; }
}

/** A directory entry, shaped like `fs.Dirent`. */
export class DfsDirent {
  /** @internal */
  constructor(readonly name: string, readonly parentPath: string, private readonly type: NodeType) {}
  /** Same as `parentPath` (node:fs keeps both names). */
  get path(): string { return this.parentPath; }
  isFile(): boolean { return this.type === NodeType.File; }
  isDirectory(): boolean { return this.type === NodeType.Dir; }
  isSymbolicLink(): boolean { return this.type === NodeType.Symlink; }
  isBlockDevice(): boolean { return false; }
  isCharacterDevice(): boolean { return false; }
  isFIFO(): boolean { return false; }
  isSocket(): boolean { return false; }
}
