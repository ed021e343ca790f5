/**
 * hostdir: a directory of the host's file system, reached only through `HostDirCalls`. The host is
 * untrusted: every stat, listing, name, link target and read length it returns is checked before
 * use, and anything malformed becomes EIO. (Contents are not authenticated here; hostdir mounts
 * are declared untrusted storage.)
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { HostDirCalls, HostDirEntry, HostStat } from '../../interface/services.ts';
import { InodeBase, isValidName } from './base.ts';
import type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

const MAX_SIZE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_U64 = (1n << 64n) - 1n;
/** Longest symlink target accepted from the host (Linux PATH_MAX). */
const MAX_LINK_TARGET = 4096;
/** Most entries accepted in one host directory. */
const MAX_DIR_ENTRIES = 1 << 20;
const READDIR_PAGE = 256;

function hostLied(what: string): WasiError {
  return new WasiError(Errno.IO, `hostdir: host returned an invalid ${what}`);
}

function isU64(v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= 0n && v <= MAX_U64;
}

function checkFiletype(filetype: unknown): number {
  if (filetype === FileType.DIRECTORY || filetype === FileType.REGULAR_FILE) return filetype;
  if (filetype === FileType.SYMBOLIC_LINK) return filetype;
  if (typeof filetype === 'number' && Number.isInteger(filetype) && filetype >= 0 && filetype <= 7) {
    // Devices, sockets, FIFOs: listed but never opened.
    return FileType.UNKNOWN;
  }
  throw hostLied('file type');
}

/** Copies a host stat into a fresh `Stat` after checking every field. */
function checkStat(s: HostStat, dev: bigint): Stat {
  if (typeof s !== 'object' || s === null) throw hostLied('stat');
  const { ino, nlink, size, atimNs, mtimNs, ctimNs } = s;
  if (!isU64(ino) || !isU64(nlink) || !isU64(atimNs) || !isU64(mtimNs) || !isU64(ctimNs)) {
    throw hostLied('stat');
  }
  if (!isU64(size) || size > MAX_SIZE) throw hostLied('file size');
  return { dev, ino, filetype: checkFiletype(s.filetype), nlink, size, atimNs, mtimNs, ctimNs };
}

function checkEntries(list: unknown, seen: Set<string>): DirEntry[] {
  if (!Array.isArray(list)) throw hostLied('directory listing');
  return list.map((e: HostDirEntry) => {
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string') throw hostLied('directory entry');
    if (!isValidName(e.name) || seen.has(e.name)) throw hostLied('directory entry name');
    if (!isU64(e.ino)) throw hostLied('inode number');
    seen.add(e.name);
    return { name: e.name, filetype: checkFiletype(e.filetype), ino: e.ino, next: 0 };
  });
}

let nextDev = 1n << 32n;

class HostDirFs implements FileSystem {
  readonly type = 'hostdir';
  readonly readOnly = false;
  readonly dev = nextDev++;

  constructor(
    readonly calls: HostDirCalls,
    readonly mount: number,
  ) {}

  root(): Inode {
    const stat = this.lstat('');
    if (stat.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
    return new HostInode(this, '', FileType.DIRECTORY);
  }

  lstat(path: string): Stat {
    return checkStat(this.calls.lstat(this.mount, path), this.dev);
  }

  inode(path: string): HostInode {
    return new HostInode(this, path, this.lstat(path).filetype);
  }
}

/** A host file, directory or link, named by its path below the mount root. */
class HostInode extends InodeBase {
  /**
   * The listing fetched when a listing last began (cookie 0). Later cookies are indexes into it,
   * so paging through a large directory stays linear and entries removed meanwhile shift nothing.
   */
  private listing: DirEntry[] | null = null;

  constructor(
    readonly fs: HostDirFs,
    readonly path: string,
    readonly filetype: number,
  ) {
    super();
  }

  stat(): Stat {
    const stat = this.fs.lstat(this.path);
    if (stat.filetype !== this.filetype) throw new WasiError(Errno.STALE);
    return stat;
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.fs.calls.utimes(this.fs.mount, this.path, atimNs, mtimNs);
  }

  override open(options: OpenOptions): FileHandle {
    if (this.filetype !== FileType.REGULAR_FILE) return super.open(options);
    const { calls, mount } = this.fs;
    const flags = { create: false, exclusive: false, truncate: options.truncate, write: options.write };
    return new HostFileHandle(this.fs, calls.open(mount, this.path, flags));
  }

  override readlink(): string {
    if (this.filetype !== FileType.SYMBOLIC_LINK) return super.readlink();
    const target = this.fs.calls.readlink(this.fs.mount, this.path);
    if (typeof target !== 'string' || target.length > MAX_LINK_TARGET || target.includes('\0')) {
      throw hostLied('link target');
    }
    return target;
  }

  override lookup(name: string): Inode | null {
    this.requireDir();
    try {
      return this.fs.inode(this.child(name));
    } catch (e) {
      if (e instanceof WasiError && e.errno === Errno.NOENT) return null;
      throw e;
    }
  }

  override createFile(name: string, exclusive: boolean): Inode {
    // An existing file is returned as is, so that a file the host lets us only read can still be
    // opened with O_CREAT for reading.
    const existing = exclusive ? null : this.lookup(name);
    if (existing) return existing;
    const { calls, mount } = this.fs;
    const path = this.child(name);
    const handle = calls.open(mount, path, { create: true, exclusive, truncate: false, write: true });
    calls.close(handle);
    // The host just made a regular file there (or refused): no need to ask it what it made.
    return new HostInode(this.fs, path, FileType.REGULAR_FILE);
  }

  override mkdir(name: string): Inode {
    this.requireDir();
    this.fs.calls.mkdir(this.fs.mount, this.child(name));
    return new HostInode(this.fs, this.child(name), FileType.DIRECTORY);
  }

  override symlink(name: string, target: string): Inode {
    this.requireDir();
    this.fs.calls.symlink(target, this.fs.mount, this.child(name));
    return new HostInode(this.fs, this.child(name), FileType.SYMBOLIC_LINK);
  }

  override unlink(name: string): void {
    this.requireDir();
    this.fs.calls.unlink(this.fs.mount, this.child(name));
  }

  override rmdir(name: string): void {
    this.requireDir();
    this.fs.calls.rmdir(this.fs.mount, this.child(name));
  }

  override link(name: string, target: Inode): void {
    this.requireDir();
    if (!(target instanceof HostInode) || target.fs !== this.fs) throw new WasiError(Errno.XDEV);
    this.fs.calls.link(this.fs.mount, target.path, this.child(name));
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    this.requireDir();
    if (!(newDir instanceof HostInode) || newDir.fs !== this.fs) throw new WasiError(Errno.XDEV);
    this.fs.calls.rename(this.fs.mount, this.child(name), newDir.child(newName));
  }

  override readdir(cookie: number, max: number): DirPage {
    this.requireDir();
    if (cookie === 0 || this.listing === null) this.listing = this.fetchListing();
    const entries = this.listing.slice(cookie, cookie + max);
    return { entries, end: cookie + max >= this.listing.length };
  }

  child(name: string): string {
    return this.path === '' ? name : `${this.path}/${name}`;
  }

  private requireDir(): void {
    if (this.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
  }

  private fetchListing(): DirEntry[] {
    const seen = new Set<string>();
    const all: DirEntry[] = [];
    for (;;) {
      const page = this.fs.calls.readdir(this.fs.mount, this.path, all.length, READDIR_PAGE);
      const entries = checkEntries(page?.entries, seen);
      if (entries.length > READDIR_PAGE || all.length + entries.length > MAX_DIR_ENTRIES) {
        throw hostLied('directory listing');
      }
      for (const e of entries) all.push({ ...e, next: all.length + 1 });
      if (page.end === true) return all;
      if (page.end !== false || entries.length === 0) throw hostLied('directory listing');
    }
  }
}

class HostFileHandle implements FileHandle {
  constructor(
    private readonly fs: HostDirFs,
    private readonly handle: number,
  ) {}

  read(offset: number, dst: Uint8Array): number {
    const data = this.fs.calls.pread(this.handle, BigInt(offset), dst.length);
    if (!(data instanceof Uint8Array) || data.length > dst.length) throw hostLied('read length');
    dst.set(data);
    return data.length;
  }

  write(offset: number, src: Uint8Array): number {
    // The host gets a copy: it must never hold a view of the program's memory.
    const n = this.fs.calls.pwrite(this.handle, BigInt(offset), src.slice());
    if (n !== src.length) throw hostLied('write count');
    return n;
  }

  size(): number {
    return Number(this.stat().size);
  }

  stat(): Stat {
    const stat = checkStat(this.fs.calls.fstat(this.handle), this.fs.dev);
    if (stat.filetype !== FileType.REGULAR_FILE) throw hostLied('file type');
    return stat;
  }

  truncate(size: number): void {
    this.fs.calls.ftruncate(this.handle, BigInt(size));
  }

  sync(dataOnly: boolean): void {
    this.fs.calls.fsync(this.handle, dataOnly);
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.fs.calls.futimes(this.handle, atimNs, mtimNs);
  }

  close(): void {
    this.fs.calls.close(this.handle);
  }
}

/** Creates the file system of host directory mount number `mount`. */
export function createHostDirFs(calls: HostDirCalls, mount: number): FileSystem {
  return new HostDirFs(calls, mount);
}
