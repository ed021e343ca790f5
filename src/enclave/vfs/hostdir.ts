/**
 * hostdir: a directory of the host's file system, reached only through `HostDirCalls`, by host
 * directory handle and one entry name at a time, never by path: symlinks and '..' are resolved in
 * the enclave (libos/resolve.ts) and the host never follows a link, so a guest cannot reach outside
 * the mount however it renames directories or plants links. The host is untrusted: every stat,
 * listing, name, link target, handle and read length it returns is checked before use, and
 * anything malformed becomes EIO. (Contents are not authenticated here; hostdir mounts are
 * declared untrusted storage.)
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { HostDirCalls, HostDirEntry, HostLookup, HostStat } from '../../interface/services.ts';
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
function checkStat(s: HostStat | undefined, dev: bigint): Stat {
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

/** Host directory handles one mount keeps open at most (besides its root); the least recently used closes. */
export const MAX_OPEN_DIRS = 128;

/**
 * A directory of the mount, held by a host directory handle. The handle follows the directory
 * through renames. When it was closed to bound the open handles, it is reopened through the parent
 * by name and must be the same directory (inode number) again: a directory reference is never
 * redirected, it fails with STALE instead.
 */
class DirRef {
  /** Open subdirectories by name, so that looking one up again reuses its handle. */
  readonly children = new Map<string, DirRef>();
  /** The host's device and inode numbers; null until first opened (a directory this mount just made). */
  id: { dev: bigint; ino: bigint } | null = null;

  constructor(
    readonly parent: DirRef | null,
    readonly name: string,
    public handle: number | null,
  ) {}
}

class HostDirFs implements FileSystem {
  readonly type = 'hostdir';
  readonly readOnly = false;
  readonly dev = nextDev++;
  private rootInode: HostInode | null = null;
  /** Open handles other than the root's, least recently used first. */
  private readonly openDirs = new Set<DirRef>();

  constructor(
    readonly calls: HostDirCalls,
    readonly mount: number,
  ) {}

  root(): Inode {
    if (this.rootInode) return this.rootInode;
    const ref = new DirRef(null, '', this.calls.root(this.mount));
    const root = new HostInode(this, null, '', FileType.DIRECTORY, ref);
    root.stat();
    this.rootInode = root;
    return root;
  }

  /** Directory `name` of `parent` was removed: its handle, if open, is closed rather than kept to the end. */
  removed(parent: DirRef, name: string): void {
    const ref = parent.children.get(name);
    if (!ref) return;
    parent.children.delete(name);
    this.openDirs.delete(ref);
    if (ref.handle === null) return;
    const handle = ref.handle;
    ref.handle = null;
    this.closeDir(handle);
  }

  /** The host handle of `ref`, reopened if it was closed. */
  handle(ref: DirRef): number {
    if (ref.handle !== null) {
      this.touch(ref);
      return ref.handle;
    }
    if (ref.parent === null) throw new WasiError(Errno.BADF, 'hostdir: root handle closed');
    const found = this.lookup(ref.parent, ref.name, ref);
    if (found?.dir !== ref) throw new WasiError(Errno.STALE);
    return ref.handle!;
  }

  /**
   * Looks up entry `name` of directory `parent`; null when absent. A directory comes with its
   * `DirRef`: the one already open when the host reports the same directory (device and inode),
   * else a new one on the handle the host opened.
   */
  lookup(
    parent: DirRef,
    name: string,
    reopening: DirRef | null = null,
  ): { stat: Stat; dir: DirRef | null } | null {
    if (!isValidName(name)) throw new WasiError(Errno.INVAL);
    const held = reopening ?? parent.children.get(name) ?? null;
    const heldId = held?.handle !== null ? (held?.id ?? null) : null;
    let found: HostLookup | null;
    try {
      found = this.calls.lookup(this.handle(parent), name, heldId);
    } catch (e) {
      if (e instanceof WasiError && e.errno === Errno.NOENT) return null;
      throw e;
    }
    if (found === null) return null;
    const handle: unknown = found?.dir;
    const stat = checkStat(found?.stat, this.dev);
    const isDir = stat.filetype === FileType.DIRECTORY;
    const isHeld = heldId !== null && found.stat.dev === heldId.dev && found.stat.ino === heldId.ino;
    if (isDir && handle === null && isHeld) {
      this.touch(held!);
      return { stat, dir: held };
    }
    if (isDir && typeof handle === 'number' && Number.isSafeInteger(handle) && handle > 0) {
      const id = { dev: found.stat.dev, ino: found.stat.ino };
      // The same directory again (or one this mount made and has not opened yet) keeps its reference.
      const same = held !== null && (held.id === null || (held.id.dev === id.dev && held.id.ino === id.ino));
      const ref = same ? held : new DirRef(parent, name, null);
      ref.id = id;
      parent.children.set(name, ref);
      this.adopt(ref, handle);
      return { stat, dir: ref };
    }
    if (typeof handle === 'number') this.closeDir(handle);
    if (isDir || handle !== null) throw hostLied('directory handle');
    return { stat, dir: null };
  }

  private touch(ref: DirRef): void {
    if (ref.parent === null) return;
    this.openDirs.delete(ref);
    this.openDirs.add(ref);
  }

  private adopt(ref: DirRef, handle: number): void {
    if (ref.handle !== null) this.closeDir(ref.handle);
    ref.handle = handle;
    this.touch(ref);
    if (this.openDirs.size <= MAX_OPEN_DIRS) return;
    const oldest = this.openDirs.values().next().value as DirRef;
    this.openDirs.delete(oldest);
    if (oldest.parent!.children.get(oldest.name) === oldest) oldest.parent!.children.delete(oldest.name);
    const closing = oldest.handle!;
    oldest.handle = null;
    this.closeDir(closing);
  }

  private closeDir(handle: number): void {
    try {
      this.calls.closeDir(handle);
    } catch {
      // A host that cannot close its own descriptor only wastes its own resources.
    }
  }
}

/** A host file, directory or link: an entry of a directory (`parent`), or the mount root. */
class HostInode extends InodeBase {
  /**
   * The listing fetched when a listing last began (cookie 0). Later cookies are indexes into it,
   * so paging through a large directory stays linear and entries removed meanwhile shift nothing.
   */
  private listing: DirEntry[] | null = null;

  constructor(
    readonly fs: HostDirFs,
    readonly parent: DirRef | null,
    readonly name: string,
    readonly filetype: number,
    /** Directories: the host directory itself. */
    readonly dir: DirRef | null,
  ) {
    super();
  }

  stat(): Stat {
    const stat = this.dir
      ? checkStat(this.fs.calls.dirStat(this.fs.handle(this.dir)), this.fs.dev)
      : this.fs.lookup(this.requireParent(), this.name)?.stat;
    if (!stat) throw new WasiError(Errno.NOENT);
    if (stat.filetype !== this.filetype) throw new WasiError(Errno.STALE);
    return stat;
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    if (this.dir) this.fs.calls.dirSetTimes(this.fs.handle(this.dir), atimNs, mtimNs);
    else this.fs.calls.utimes(this.parentHandle(), this.name, atimNs, mtimNs);
  }

  override open(options: OpenOptions): FileHandle {
    if (this.filetype !== FileType.REGULAR_FILE) return super.open(options);
    const flags = { create: false, exclusive: false, truncate: options.truncate, write: options.write };
    return new HostFileHandle(this.fs, this.fs.calls.open(this.parentHandle(), this.name, flags));
  }

  override readlink(): string {
    if (this.filetype !== FileType.SYMBOLIC_LINK) return super.readlink();
    const target = this.fs.calls.readlink(this.parentHandle(), this.name);
    if (typeof target !== 'string' || target.length > MAX_LINK_TARGET || target.includes('\0')) {
      throw hostLied('link target');
    }
    return target;
  }

  override lookup(name: string): Inode | null {
    const dir = this.requireDir();
    const found = this.fs.lookup(dir, name);
    return found && new HostInode(this.fs, dir, name, found.stat.filetype, found.dir);
  }

  override createFile(name: string, exclusive: boolean): Inode {
    // An existing file is returned as is, so that a file the host lets us only read can still be
    // opened with O_CREAT for reading.
    const existing = exclusive ? null : this.lookup(name);
    if (existing) return existing;
    const dir = this.requireDir();
    const { calls } = this.fs;
    const handle = calls.open(this.fs.handle(dir), name, {
      create: true,
      exclusive,
      truncate: false,
      write: true,
    });
    calls.close(handle);
    // The host just made a regular file there (or refused): no need to ask it what it made.
    return new HostInode(this.fs, dir, name, FileType.REGULAR_FILE, null);
  }

  override mkdir(name: string): Inode {
    const dir = this.requireDir();
    this.fs.calls.mkdir(this.fs.handle(dir), name);
    return new HostInode(this.fs, dir, name, FileType.DIRECTORY, new DirRef(dir, name, null));
  }

  override symlink(name: string, target: string): Inode {
    const dir = this.requireDir();
    this.fs.calls.symlink(target, this.fs.handle(dir), name);
    return new HostInode(this.fs, dir, name, FileType.SYMBOLIC_LINK, null);
  }

  override unlink(name: string): void {
    this.fs.calls.unlink(this.fs.handle(this.requireDir()), name);
  }

  override rmdir(name: string): void {
    const dir = this.requireDir();
    this.fs.calls.rmdir(this.fs.handle(dir), name);
    this.fs.removed(dir, name);
  }

  override link(name: string, target: Inode): void {
    const dir = this.requireDir();
    if (!(target instanceof HostInode) || target.fs !== this.fs) throw new WasiError(Errno.XDEV);
    if (target.dir !== null) throw new WasiError(Errno.PERM);
    const from = target.parentHandle();
    this.fs.calls.link(from, target.name, this.fs.handle(dir), name);
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    const dir = this.requireDir();
    if (!(newDir instanceof HostInode) || newDir.fs !== this.fs) throw new WasiError(Errno.XDEV);
    const to = this.fs.handle(newDir.requireDir());
    this.fs.calls.rename(this.fs.handle(dir), name, to, newName);
  }

  override readdir(cookie: number, max: number): DirPage {
    this.requireDir();
    if (cookie === 0 || this.listing === null) this.listing = this.fetchListing();
    const entries = this.listing.slice(cookie, cookie + max);
    return { entries, end: cookie + max >= this.listing.length };
  }

  private parentHandle(): number {
    return this.fs.handle(this.requireParent());
  }

  private requireParent(): DirRef {
    if (this.parent === null) throw new WasiError(Errno.INVAL);
    return this.parent;
  }

  private requireDir(): DirRef {
    if (this.dir === null) throw new WasiError(Errno.NOTDIR);
    return this.dir;
  }

  private fetchListing(): DirEntry[] {
    const seen = new Set<string>();
    const all: DirEntry[] = [];
    for (;;) {
      const page = this.fs.calls.readdir(this.fs.handle(this.requireDir()), all.length, READDIR_PAGE);
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
    // Lent for the call: the ring copies it into a slot, the host-directory cache into a held run.
    const n = this.fs.calls.pwrite(this.handle, BigInt(offset), src);
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
