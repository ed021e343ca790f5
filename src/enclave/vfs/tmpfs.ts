/**
 * tmpfs: a file system held entirely in enclave memory. Nothing reaches the host. File contents
 * grow geometrically so that appends cost amortised O(1).
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase } from './base.ts';
import type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

/** Options for `createTmpfs`. */
export interface TmpfsOptions {
  /** Wall-clock time for timestamps, in nanoseconds since the epoch. */
  now?: () => bigint;
  /** Most bytes of file contents held at once (enclave memory is scarce); beyond it writes fail with NOSPC. */
  maxBytes?: number;
}

/** Largest file tmpfs holds (the limit of one ArrayBuffer on 64-bit V8 is higher; this is policy). */
const MAX_FILE_SIZE = 2 ** 32;

let nextDev = 1n;

class Tmpfs implements FileSystem {
  readonly type = 'tmpfs';
  readonly readOnly = false;
  readonly dev = nextDev++;
  private nextIno = 1n;
  private readonly rootDir: TmpDir;
  /** Bytes of file buffers allocated (capacity, not length). */
  private used = 0;

  constructor(
    readonly now: () => bigint,
    private readonly maxBytes: number,
  ) {
    this.rootDir = new TmpDir(this);
  }

  /** Accounts `delta` bytes of buffer; NOSPC when the file system would exceed its limit. */
  charge(delta: number): void {
    if (delta > 0 && this.used + delta > this.maxBytes) throw new WasiError(Errno.NOSPC);
    this.used += delta;
  }

  /** Whether `delta` more bytes fit. */
  fits(delta: number): boolean {
    return this.used + delta <= this.maxBytes;
  }

  root(): Inode {
    return this.rootDir;
  }

  allocIno(): bigint {
    return this.nextIno++;
  }
}

abstract class TmpNode extends InodeBase {
  readonly ino: bigint;
  nlink = 1;
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;

  constructor(readonly fs: Tmpfs) {
    super();
    this.ino = fs.allocIno();
    this.atimNs = this.mtimNs = this.ctimNs = fs.now();
  }

  abstract size(): number;

  stat(): Stat {
    return {
      dev: this.fs.dev,
      ino: this.ino,
      filetype: this.filetype,
      nlink: BigInt(this.nlink),
      size: BigInt(this.size()),
      atimNs: this.atimNs,
      mtimNs: this.mtimNs,
      ctimNs: this.ctimNs,
    };
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    if (atimNs !== null) this.atimNs = atimNs;
    if (mtimNs !== null) this.mtimNs = mtimNs;
    this.ctimNs = this.fs.now();
  }

  touch(): void {
    this.mtimNs = this.ctimNs = this.fs.now();
  }
}

/**
 * A regular file; it is its own `FileHandle` since every open shares the one buffer. Its memory is
 * given back once it has neither links nor open handles.
 */
class TmpFile extends TmpNode implements FileHandle {
  readonly filetype = FileType.REGULAR_FILE;
  private data = new Uint8Array(0);
  private length = 0;
  private opens = 0;

  size(): number {
    return this.length;
  }

  override open(options: OpenOptions): FileHandle {
    if (options.truncate) this.truncate(0);
    this.opens++;
    return this;
  }

  read(offset: number, dst: Uint8Array): number {
    if (offset >= this.length) return 0;
    const n = Math.min(dst.length, this.length - offset);
    dst.set(this.data.subarray(offset, offset + n));
    return n;
  }

  write(offset: number, src: Uint8Array): number {
    const end = offset + src.length;
    if (end > MAX_FILE_SIZE) throw new WasiError(Errno.FBIG);
    if (end > this.data.length) this.reserve(end);
    this.data.set(src, offset);
    if (end > this.length) this.length = end;
    this.touch();
    return src.length;
  }

  truncate(size: number): void {
    if (size > MAX_FILE_SIZE) throw new WasiError(Errno.FBIG);
    if (size > this.data.length) this.reserve(size);
    else if (size < this.length) this.data.fill(0, size, this.length);
    this.length = size;
    this.touch();
  }

  sync(_dataOnly: boolean): void {}

  close(): void {
    this.opens--;
    this.releaseIfUnused();
  }

  /** Frees the contents of a file no name and no descriptor refers to any more. */
  releaseIfUnused(): void {
    if (this.nlink > 0 || this.opens > 0) return;
    this.fs.charge(-this.data.length);
    this.data = new Uint8Array(0);
    this.length = 0;
  }

  /** Grows the buffer to at least `size`, doubling (within the limit) so that appends stay cheap. */
  private reserve(size: number): void {
    let capacity = Math.min(MAX_FILE_SIZE, Math.max(size, this.data.length * 2, 4096));
    if (!this.fs.fits(capacity - this.data.length)) capacity = size;
    this.fs.charge(capacity - this.data.length);
    const grown = new Uint8Array(capacity);
    grown.set(this.data.subarray(0, this.length));
    this.data = grown;
  }
}

class TmpSymlink extends TmpNode {
  readonly filetype = FileType.SYMBOLIC_LINK;

  constructor(
    fs: Tmpfs,
    private readonly target: string,
  ) {
    super(fs);
  }

  size(): number {
    return new TextEncoder().encode(this.target).length;
  }

  override readlink(): string {
    return this.target;
  }
}

class TmpDir extends TmpNode {
  readonly filetype = FileType.DIRECTORY;
  readonly entries = new Map<string, TmpNode>();
  /**
   * Each entry's readdir cookie: its insertion number. Map order is insertion order, so cookies
   * increase along the listing and removing an entry moves no other.
   */
  private readonly cookies = new Map<string, number>();
  private nextCookie = 0;
  /** The containing directory; the root is its own parent. */
  parent: TmpDir = this;

  constructor(fs: Tmpfs) {
    super(fs);
    this.nlink = 2;
  }

  size(): number {
    return this.entries.size;
  }

  override lookup(name: string): Inode | null {
    return this.entries.get(name) ?? null;
  }

  /** The entry `name`, which must exist. */
  private entry(name: string): TmpNode {
    const node = this.entries.get(name);
    if (!node) throw new WasiError(Errno.NOENT);
    return node;
  }

  override createFile(name: string, exclusive: boolean): Inode {
    const existing = this.entries.get(name);
    if (existing) {
      if (exclusive) throw new WasiError(Errno.EXIST);
      return existing;
    }
    return this.add(name, new TmpFile(this.fs));
  }

  override mkdir(name: string): Inode {
    if (this.entries.has(name)) throw new WasiError(Errno.EXIST);
    const dir = new TmpDir(this.fs);
    dir.parent = this;
    this.nlink++;
    return this.add(name, dir);
  }

  override symlink(name: string, target: string): Inode {
    if (this.entries.has(name)) throw new WasiError(Errno.EXIST);
    return this.add(name, new TmpSymlink(this.fs, target));
  }

  override unlink(name: string): void {
    const node = this.entry(name);
    if (node instanceof TmpDir) throw new WasiError(Errno.ISDIR);
    this.remove(name, node);
  }

  override rmdir(name: string): void {
    const node = this.entry(name);
    if (!(node instanceof TmpDir)) throw new WasiError(Errno.NOTDIR);
    if (node.entries.size > 0) throw new WasiError(Errno.NOTEMPTY);
    this.remove(name, node);
    this.nlink--;
  }

  override link(name: string, target: Inode): void {
    if (!(target instanceof TmpNode) || target.fs !== this.fs) throw new WasiError(Errno.XDEV);
    if (target instanceof TmpDir) throw new WasiError(Errno.PERM);
    if (this.entries.has(name)) throw new WasiError(Errno.EXIST);
    target.nlink++;
    target.ctimNs = this.fs.now();
    this.add(name, target);
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    if (!(newDir instanceof TmpDir) || newDir.fs !== this.fs) throw new WasiError(Errno.XDEV);
    const node = this.entry(name);
    const replaced = newDir.entries.get(newName);
    if (replaced === node) return;
    if (node instanceof TmpDir) {
      for (let d: TmpDir = newDir; ; d = d.parent) {
        if (d === node) throw new WasiError(Errno.INVAL);
        if (d.parent === d) break;
      }
      if (replaced && !(replaced instanceof TmpDir)) throw new WasiError(Errno.NOTDIR);
      if (replaced instanceof TmpDir && replaced.entries.size > 0) throw new WasiError(Errno.NOTEMPTY);
    } else if (replaced instanceof TmpDir) {
      throw new WasiError(Errno.ISDIR);
    }
    if (replaced) {
      if (replaced instanceof TmpDir) newDir.rmdir(newName);
      else newDir.remove(newName, replaced);
    }
    this.entries.delete(name);
    this.cookies.delete(name);
    this.touch();
    newDir.add(newName, node);
    node.ctimNs = this.fs.now();
    if (node instanceof TmpDir && newDir !== this) {
      node.parent = newDir;
      this.nlink--;
      newDir.nlink++;
    }
  }

  override readdir(cookie: number, max: number): DirPage {
    const entries: DirEntry[] = [];
    for (const [name, position] of this.cookies) {
      if (position < cookie) continue;
      if (entries.length === max) return { entries, end: false };
      const node = this.entries.get(name)!;
      entries.push({ name, filetype: node.filetype, ino: node.ino, next: position + 1 });
    }
    return { entries, end: true };
  }

  private add<T extends TmpNode>(name: string, node: T): T {
    this.entries.set(name, node);
    this.cookies.set(name, this.nextCookie++);
    this.touch();
    return node;
  }

  private remove(name: string, node: TmpNode): void {
    this.entries.delete(name);
    this.cookies.delete(name);
    node.nlink--;
    node.ctimNs = this.fs.now();
    this.touch();
    if (node instanceof TmpFile) node.releaseIfUnused();
  }
}

function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Creates an empty tmpfs. */
export function createTmpfs(options: TmpfsOptions = {}): FileSystem {
  return new Tmpfs(options.now ?? wallClockNs, options.maxBytes ?? Infinity);
}
