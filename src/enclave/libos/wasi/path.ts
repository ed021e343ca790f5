/**
 * The `path_*` calls. Every path is resolved below its directory descriptor by `resolvePath`,
 * which never leaves it; the descriptor must hold the call's rights.
 */
import { Errno, WasiError } from '../../../interface/errno.ts';
import { FileType } from '../../../interface/services.ts';
import type { Inode } from '../../vfs/index.ts';
import type { WasiContext } from '../context.ts';
import { DirFd, FileFd } from '../file-fd.ts';
import type { Fd } from '../fd.ts';
import { resolvePath } from '../resolve.ts';
import type { FollowLast, Resolved } from '../resolve.ts';
import {
  DIRECTORY_RIGHTS,
  FDFLAGS_ALL,
  FILE_RIGHTS,
  LOOKUP_SYMLINK_FOLLOW,
  OFlags,
  Rights,
} from './layout.ts';
import { timesToSet } from './times.ts';

/** The directory descriptor `fd` (NOTDIR if it is something else), holding `rights`. */
function dirFd(ctx: WasiContext, fd: number, rights: number): Fd {
  const entry = ctx.fds.get(fd);
  entry.directory();
  return ctx.fds.get(fd, rights);
}

function resolve(
  ctx: WasiContext,
  fd: number,
  rights: number,
  ptr: number,
  len: number,
  follow: FollowLast,
): Resolved {
  const start = dirFd(ctx, fd, rights).directory();
  return resolvePath(start, ctx.memory.readString(ptr, len), follow);
}

function followOf(lookupFlags: number): FollowLast {
  return lookupFlags & LOOKUP_SYMLINK_FOLLOW ? 'always' : 'with-slash';
}

/** The existing inode a path names. */
function existing(r: Resolved): Inode {
  if (r.inode === null) throw new WasiError(Errno.NOENT);
  return r.inode;
}

/** The parent and name for a new entry; EXIST when the path names something already there. */
function newEntry(r: Resolved): { parent: Inode; name: string } {
  if (r.inode !== null || r.name === null) throw new WasiError(Errno.EXIST);
  return { parent: r.parent, name: r.name };
}

/** The parent and name of an entry to remove or rename; the path must not end in '.' or '..'. */
function entryOf(r: Resolved): { parent: Inode; name: string; inode: Inode } {
  const inode = existing(r);
  if (r.name === null) throw new WasiError(inode.filetype === FileType.DIRECTORY ? Errno.BUSY : Errno.INVAL);
  return { parent: r.parent, name: r.name, inode };
}

export function path_create_directory(
  ctx: WasiContext,
  fd: number,
  pathPtr: number,
  pathLen: number,
): number {
  const r = resolve(ctx, fd, Rights.PATH_CREATE_DIRECTORY, pathPtr, pathLen, 'with-slash');
  const { parent, name } = newEntry(r);
  parent.mkdir(name);
  return 0;
}

export function path_filestat_get(
  ctx: WasiContext,
  fd: number,
  flags: number,
  pathPtr: number,
  pathLen: number,
  statPtr: number,
): number {
  const follow = followOf(flags);
  const r = resolve(ctx, fd, Rights.PATH_FILESTAT_GET, pathPtr, pathLen, follow);
  // A miss is the common case (SQLite probing for journals): return it without an exception.
  if (r.inode === null) return Errno.NOENT;
  ctx.memory.writeFilestat(statPtr, r.inode.stat());
  return 0;
}

export function path_filestat_set_times(
  ctx: WasiContext,
  fd: number,
  flags: number,
  pathPtr: number,
  pathLen: number,
  atim: bigint,
  mtim: bigint,
  fstFlags: number,
): number {
  const follow = followOf(flags);
  const r = resolve(ctx, fd, Rights.PATH_FILESTAT_SET_TIMES, pathPtr, pathLen, follow);
  const [a, m] = timesToSet(ctx, atim, mtim, fstFlags);
  existing(r).setTimes(a, m);
  return 0;
}

export function path_link(
  ctx: WasiContext,
  oldFd: number,
  oldFlags: number,
  oldPtr: number,
  oldLen: number,
  newFd: number,
  newPtr: number,
  newLen: number,
): number {
  const follow = followOf(oldFlags);
  const source = existing(resolve(ctx, oldFd, Rights.PATH_LINK_SOURCE, oldPtr, oldLen, follow));
  if (source.filetype === FileType.DIRECTORY) throw new WasiError(Errno.PERM);
  const target = resolve(ctx, newFd, Rights.PATH_LINK_TARGET, newPtr, newLen, 'with-slash');
  const { parent, name } = newEntry(target);
  if (target.trailingSlash) throw new WasiError(Errno.NOENT);
  parent.link(name, source);
  return 0;
}

export function path_open(
  ctx: WasiContext,
  fd: number,
  dirFlags: number,
  pathPtr: number,
  pathLen: number,
  oflags: number,
  rightsBase: bigint,
  rightsInheriting: bigint,
  fdFlags: number,
  openedFdPtr: number,
): number {
  const create = (oflags & OFlags.CREAT) !== 0;
  const truncate = (oflags & OFlags.TRUNC) !== 0;
  const wantDir = (oflags & OFlags.DIRECTORY) !== 0;
  const needed =
    Rights.PATH_OPEN |
    (create ? Rights.PATH_CREATE_FILE : 0) |
    (truncate ? Rights.PATH_FILESTAT_SET_SIZE : 0);
  const from = dirFd(ctx, fd, needed);
  if (oflags & ~15 || fdFlags & ~FDFLAGS_ALL) throw new WasiError(Errno.INVAL);
  if (create && wantDir) throw new WasiError(Errno.INVAL);
  // Bits beyond the defined rights are ignored, as by wasmtime; the rest must be inheritable.
  const base = Number(BigInt.asUintN(30, rightsBase));
  const inheriting = Number(BigInt.asUintN(30, rightsInheriting));
  if (base & ~from.rightsInheriting || inheriting & ~from.rightsInheriting) {
    throw new WasiError(Errno.NOTCAPABLE);
  }

  const r = resolvePath(from.directory(), ctx.memory.readString(pathPtr, pathLen), followOf(dirFlags));
  let inode = r.inode;
  if (create) {
    if (r.name === null) throw new WasiError(oflags & OFlags.EXCL ? Errno.EXIST : Errno.ISDIR);
    if (inode !== null && oflags & OFlags.EXCL) throw new WasiError(Errno.EXIST);
    if (inode === null) {
      if (r.trailingSlash) throw new WasiError(Errno.ISDIR);
      inode = r.parent.createFile(r.name, (oflags & OFlags.EXCL) !== 0);
    }
  }
  if (inode === null) return Errno.NOENT;
  if (inode.filetype === FileType.SYMBOLIC_LINK) throw new WasiError(wantDir ? Errno.NOTDIR : Errno.LOOP);
  if (wantDir && inode.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);

  let opened: Fd;
  if (inode.filetype === FileType.DIRECTORY) {
    if (base & Rights.FD_WRITE || truncate) throw new WasiError(Errno.ISDIR);
    const parent = r.name === null ? r.grandparent : r.parent;
    opened = new DirFd(inode, parent, base & DIRECTORY_RIGHTS, inheriting);
  } else if (inode.filetype === FileType.REGULAR_FILE) {
    const write =
      truncate || (base & (Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE)) !== 0;
    const handle = inode.open({ write, truncate });
    opened = new FileFd(inode, handle, base & FILE_RIGHTS, inheriting, fdFlags);
  } else {
    throw new WasiError(Errno.NOTSUP);
  }
  let number: number;
  try {
    number = ctx.fds.add(opened);
  } catch (e) {
    opened.close();
    throw e;
  }
  ctx.memory.view().setUint32(openedFdPtr, number, true);
  return 0;
}

export function path_readlink(
  ctx: WasiContext,
  fd: number,
  pathPtr: number,
  pathLen: number,
  buf: number,
  bufLen: number,
  bufUsedPtr: number,
): number {
  const inode = existing(resolve(ctx, fd, Rights.PATH_READLINK, pathPtr, pathLen, 'with-slash'));
  if (inode.filetype !== FileType.SYMBOLIC_LINK) throw new WasiError(Errno.INVAL);
  // A target longer than the buffer is cut off, not an error (as wasmtime does).
  const target = new TextEncoder().encode(inode.readlink()).subarray(0, bufLen);
  ctx.memory.slice(buf, target.length).set(target);
  ctx.memory.view().setUint32(bufUsedPtr, target.length, true);
  return 0;
}

export function path_remove_directory(
  ctx: WasiContext,
  fd: number,
  pathPtr: number,
  pathLen: number,
): number {
  const r = resolve(ctx, fd, Rights.PATH_REMOVE_DIRECTORY, pathPtr, pathLen, 'never');
  if (r.name === null) throw new WasiError(Errno.INVAL);
  const { parent, name, inode } = entryOf(r);
  if (inode.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
  parent.rmdir(name);
  return 0;
}

export function path_rename(
  ctx: WasiContext,
  fd: number,
  oldPtr: number,
  oldLen: number,
  newFd: number,
  newPtr: number,
  newLen: number,
): number {
  const from = entryOf(resolve(ctx, fd, Rights.PATH_RENAME_SOURCE, oldPtr, oldLen, 'never'));
  const to = resolve(ctx, newFd, Rights.PATH_RENAME_TARGET, newPtr, newLen, 'never');
  if (to.name === null) throw new WasiError(Errno.BUSY);
  if (from.inode.filetype !== FileType.DIRECTORY && to.trailingSlash) throw new WasiError(Errno.NOTDIR);
  if (
    to.inode !== null &&
    to.inode.filetype === FileType.DIRECTORY &&
    from.inode.filetype !== FileType.DIRECTORY
  ) {
    throw new WasiError(Errno.ISDIR);
  }
  if (
    to.inode !== null &&
    to.inode.filetype !== FileType.DIRECTORY &&
    from.inode.filetype === FileType.DIRECTORY
  ) {
    throw new WasiError(Errno.NOTDIR);
  }
  from.parent.rename(from.name, to.parent, to.name);
  return 0;
}

export function path_symlink(
  ctx: WasiContext,
  oldPtr: number,
  oldLen: number,
  fd: number,
  newPtr: number,
  newLen: number,
): number {
  const target = ctx.memory.readString(oldPtr, oldLen);
  if (target.includes('\0')) throw new WasiError(Errno.INVAL);
  // Such a link could never be followed (resolvePath refuses absolute targets), so refuse it now.
  if (target.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE);
  const r = resolve(ctx, fd, Rights.PATH_SYMLINK, newPtr, newLen, 'with-slash');
  const { parent, name } = newEntry(r);
  if (r.trailingSlash) throw new WasiError(Errno.NOENT);
  parent.symlink(name, target);
  return 0;
}

export function path_unlink_file(ctx: WasiContext, fd: number, pathPtr: number, pathLen: number): number {
  const r = resolve(ctx, fd, Rights.PATH_UNLINK_FILE, pathPtr, pathLen, 'never');
  const { parent, name, inode } = entryOf(r);
  if (inode.filetype === FileType.DIRECTORY) throw new WasiError(Errno.ISDIR);
  parent.unlink(name);
  return 0;
}
