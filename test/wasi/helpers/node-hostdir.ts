/**
 * `HostDirCalls` served straight from `node:fs`, for tests: what the host's directory server does,
 * without the ring. Paths arrive already resolved by the enclave and are joined under each root.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Errno, WasiError } from '../../../src/interface/errno.ts';
import { FileType } from '../../../src/interface/services.ts';
import type { HostDirCalls, HostDirEntry, HostOpenFlags, HostStat } from '../../../src/interface/services.ts';

const codes: Record<string, number> = {
  ENOENT: Errno.NOENT,
  EEXIST: Errno.EXIST,
  ENOTDIR: Errno.NOTDIR,
  EISDIR: Errno.ISDIR,
  ENOTEMPTY: Errno.NOTEMPTY,
  EACCES: Errno.ACCES,
  EPERM: Errno.PERM,
  EINVAL: Errno.INVAL,
  ELOOP: Errno.LOOP,
  EXDEV: Errno.XDEV,
  EBADF: Errno.BADF,
  ENOSPC: Errno.NOSPC,
  ENAMETOOLONG: Errno.NAMETOOLONG,
  EBUSY: Errno.BUSY,
  EROFS: Errno.ROFS,
};

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WasiError(code !== undefined && code in codes ? codes[code] : Errno.IO, String(e));
  }
}

function filetypeOf(s: fs.BigIntStats | fs.Dirent): number {
  if (s.isFile()) return FileType.REGULAR_FILE;
  if (s.isDirectory()) return FileType.DIRECTORY;
  if (s.isSymbolicLink()) return FileType.SYMBOLIC_LINK;
  if (s.isCharacterDevice()) return FileType.CHARACTER_DEVICE;
  if (s.isBlockDevice()) return FileType.BLOCK_DEVICE;
  return FileType.UNKNOWN;
}

function hostStat(s: fs.BigIntStats): HostStat {
  return {
    filetype: filetypeOf(s),
    dev: s.dev,
    ino: s.ino,
    nlink: s.nlink,
    size: s.size,
    atimNs: s.atimeNs,
    mtimNs: s.mtimeNs,
    ctimNs: s.ctimeNs,
  };
}

const toDate = (ns: bigint | null, fallback: bigint): number => Number(ns ?? fallback) / 1e9;

/** A host directory server over real directories: `roots[mount]` is mount number `mount`. */
export class NodeHostDir implements HostDirCalls {
  private readonly handles = new Map<number, number>();
  private nextHandle = 1;
  /** Calls made, by name, so tests can see what reached the host. */
  readonly counts = new Map<string, number>();

  constructor(private readonly roots: string[]) {}

  private path(mount: number, path: string): string {
    this.count('path');
    const root = this.roots[mount];
    if (root === undefined) throw new WasiError(Errno.BADF);
    return path === '' ? root : join(root, path);
  }

  private fd(handle: number): number {
    const fd = this.handles.get(handle);
    if (fd === undefined) throw new WasiError(Errno.BADF);
    return fd;
  }

  private count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  lstat(mount: number, path: string): HostStat {
    return wrap(() => hostStat(fs.lstatSync(this.path(mount, path), { bigint: true })));
  }

  open(mount: number, path: string, flags: HostOpenFlags): number {
    let mode = flags.write ? fs.constants.O_RDWR : fs.constants.O_RDONLY;
    if (flags.create) mode |= fs.constants.O_CREAT;
    if (flags.exclusive) mode |= fs.constants.O_EXCL;
    if (flags.truncate) mode |= fs.constants.O_TRUNC;
    mode |= fs.constants.O_NOFOLLOW;
    const fd = wrap(() => fs.openSync(this.path(mount, path), mode, 0o644));
    const handle = this.nextHandle++;
    this.handles.set(handle, fd);
    return handle;
  }

  close(handle: number): void {
    wrap(() => fs.closeSync(this.fd(handle)));
    this.handles.delete(handle);
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    const n = wrap(() => fs.readSync(this.fd(handle), buf, 0, length, offset));
    return buf.subarray(0, n);
  }

  pwrite(handle: number, offset: bigint, data: Uint8Array): number {
    return wrap(() => fs.writeSync(this.fd(handle), data, 0, data.length, Number(offset)));
  }

  fstat(handle: number): HostStat {
    return wrap(() => hostStat(fs.fstatSync(this.fd(handle), { bigint: true })));
  }

  ftruncate(handle: number, size: bigint): void {
    wrap(() => fs.ftruncateSync(this.fd(handle), Number(size)));
  }

  fsync(handle: number, dataOnly: boolean): void {
    wrap(() => (dataOnly ? fs.fdatasyncSync(this.fd(handle)) : fs.fsyncSync(this.fd(handle))));
  }

  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    const fd = this.fd(handle);
    const s = wrap(() => fs.fstatSync(fd, { bigint: true }));
    wrap(() => fs.futimesSync(fd, toDate(atimNs, s.atimeNs), toDate(mtimNs, s.mtimeNs)));
  }

  readdir(
    mount: number,
    path: string,
    start: number,
    max: number,
  ): { entries: HostDirEntry[]; end: boolean } {
    const dir = this.path(mount, path);
    const all = wrap(() => fs.readdirSync(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    const entries = all.slice(start, start + max).map((d) => ({
      name: d.name,
      filetype: filetypeOf(d),
      ino: wrap(() => fs.lstatSync(join(dir, d.name), { bigint: true }).ino),
    }));
    return { entries, end: start + max >= all.length };
  }

  mkdir(mount: number, path: string): void {
    wrap(() => fs.mkdirSync(this.path(mount, path)));
  }

  rmdir(mount: number, path: string): void {
    wrap(() => fs.rmdirSync(this.path(mount, path)));
  }

  unlink(mount: number, path: string): void {
    wrap(() => fs.unlinkSync(this.path(mount, path)));
  }

  rename(mount: number, from: string, to: string): void {
    wrap(() => fs.renameSync(this.path(mount, from), this.path(mount, to)));
  }

  link(mount: number, from: string, to: string): void {
    wrap(() => fs.linkSync(this.path(mount, from), this.path(mount, to)));
  }

  symlink(target: string, mount: number, path: string): void {
    wrap(() => fs.symlinkSync(target, this.path(mount, path)));
  }

  readlink(mount: number, path: string): string {
    return wrap(() => fs.readlinkSync(this.path(mount, path)));
  }

  utimes(mount: number, path: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    const p = this.path(mount, path);
    const s = wrap(() => fs.lstatSync(p, { bigint: true }));
    wrap(() => fs.lutimesSync(p, toDate(atimNs, s.atimeNs), toDate(mtimNs, s.mtimeNs)));
  }
}
