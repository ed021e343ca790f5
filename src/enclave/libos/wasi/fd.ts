/**
 * The `fd_*` calls: reading, writing, seeking, metadata, preopens, directory listing and the
 * descriptor table itself. Each decodes its arguments, looks the descriptor up with the rights
 * it needs, and leaves meaning to the `Fd`.
 */
import { Errno, WasiError } from '../../../interface/errno.ts';
import { FileType } from '../../../interface/services.ts';
import type { WasiContext } from '../context.ts';
import { DirFd, FileFd } from '../file-fd.ts';
import type { Fd } from '../fd.ts';
import {
  ALL_RIGHTS,
  Dirent,
  FDFLAGS_ALL,
  Fdstat,
  Prestat,
  PREOPENTYPE_DIR,
  Rights,
  Whence,
} from './layout.ts';
import { iovecs } from './iovec.ts';
import { timesToSet } from './times.ts';

const encoder = new TextEncoder();
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

/** Checks rights only on regular files, so other kinds fail with their own errno (SPIPE, BADF). */
function fileWithRights(ctx: WasiContext, fd: number, rights: number): Fd {
  const entry = ctx.fds.get(fd);
  if (entry instanceof FileFd) ctx.fds.get(fd, rights);
  return entry;
}

function offsetArg(offset: bigint): number {
  if (offset < 0n || offset > MAX_OFFSET) throw new WasiError(Errno.INVAL);
  return Number(offset);
}

export function fd_read(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  nreadPtr: number,
): number {
  const file = ctx.fds.get(fd, Rights.FD_READ);
  let total = 0;
  // A datagram socket reads one datagram across all the buffers (readv of UDP).
  if (file.filetype === FileType.SOCKET_DGRAM) {
    total = file.socket().recv(iovecs(ctx.memory, iovs, iovsLen), 0).count;
  } else {
    for (const buffer of iovecs(ctx.memory, iovs, iovsLen)) {
      const n = file.read(buffer);
      total += n;
      if (n < buffer.length) break;
    }
  }
  ctx.memory.view().setUint32(nreadPtr, total, true);
  return 0;
}

export function fd_write(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  nwrittenPtr: number,
): number {
  const file = ctx.fds.get(fd, Rights.FD_WRITE);
  let total = 0;
  // A datagram socket sends the buffers as one datagram (writev of UDP).
  if (file.filetype === FileType.SOCKET_DGRAM) {
    total = file.socket().send(iovecs(ctx.memory, iovs, iovsLen), 0);
  } else {
    for (const buffer of iovecs(ctx.memory, iovs, iovsLen))
      if (buffer.length > 0) total += file.write(buffer);
  }
  ctx.memory.view().setUint32(nwrittenPtr, total, true);
  return 0;
}

export function fd_pread(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  offset: bigint,
  nreadPtr: number,
): number {
  const file = fileWithRights(ctx, fd, Rights.FD_READ);
  let at = offsetArg(offset);
  let total = 0;
  for (const buffer of iovecs(ctx.memory, iovs, iovsLen)) {
    const n = file.pread(buffer, at);
    total += n;
    at += n;
    if (n < buffer.length) break;
  }
  ctx.memory.view().setUint32(nreadPtr, total, true);
  return 0;
}

export function fd_pwrite(
  ctx: WasiContext,
  fd: number,
  iovs: number,
  iovsLen: number,
  offset: bigint,
  nwrittenPtr: number,
): number {
  const file = fileWithRights(ctx, fd, Rights.FD_WRITE);
  let at = offsetArg(offset);
  let total = 0;
  for (const buffer of iovecs(ctx.memory, iovs, iovsLen)) {
    const n = file.pwrite(buffer, at);
    total += n;
    at += n;
  }
  ctx.memory.view().setUint32(nwrittenPtr, total, true);
  return 0;
}

export function fd_seek(
  ctx: WasiContext,
  fd: number,
  offset: bigint,
  whence: number,
  newOffsetPtr: number,
): number {
  const tellOnly = offset === 0n && whence === Whence.CUR;
  const file = fileWithRights(ctx, fd, tellOnly ? Rights.FD_TELL : Rights.FD_SEEK);
  const delta = Number(offset);
  if (!Number.isSafeInteger(delta)) throw new WasiError(Errno.INVAL);
  const position = file.seek(delta, whence);
  ctx.memory.setU64(newOffsetPtr, position);
  return 0;
}

export function fd_tell(ctx: WasiContext, fd: number, offsetPtr: number): number {
  const position = fileWithRights(ctx, fd, Rights.FD_TELL).seek(0, Whence.CUR);
  ctx.memory.setU64(offsetPtr, position);
  return 0;
}

export function fd_close(ctx: WasiContext, fd: number): number {
  ctx.fds.remove(fd).close();
  return 0;
}

export function fd_renumber(ctx: WasiContext, from: number, to: number): number {
  ctx.fds.renumber(from, to);
  return 0;
}

export function fd_fdstat_get(ctx: WasiContext, fd: number, statPtr: number): number {
  const entry = ctx.fds.get(fd);
  const v = ctx.memory.view();
  v.setUint8(statPtr + Fdstat.FILETYPE, entry.filetype);
  v.setUint8(statPtr + 1, 0);
  v.setUint16(statPtr + Fdstat.FLAGS, entry.flags, true);
  v.setUint32(statPtr + 4, 0, true);
  v.setBigUint64(statPtr + Fdstat.RIGHTS_BASE, BigInt(entry.rightsBase), true);
  v.setBigUint64(statPtr + Fdstat.RIGHTS_INHERITING, BigInt(entry.rightsInheriting), true);
  return 0;
}

export function fd_fdstat_set_flags(ctx: WasiContext, fd: number, flags: number): number {
  const entry = ctx.fds.get(fd, Rights.FD_FDSTAT_SET_FLAGS);
  if (flags & ~FDFLAGS_ALL) throw new WasiError(Errno.INVAL);
  entry.flags = flags;
  return 0;
}

export function fd_fdstat_set_rights(ctx: WasiContext, fd: number, base: bigint, inheriting: bigint): number {
  const entry = ctx.fds.get(fd);
  if (base >> 30n !== 0n || inheriting >> 30n !== 0n) throw new WasiError(Errno.NOTCAPABLE);
  const newBase = Number(base);
  const newInheriting = Number(inheriting);
  if (newBase & ~entry.rightsBase || newInheriting & ~entry.rightsInheriting) {
    throw new WasiError(Errno.NOTCAPABLE);
  }
  entry.rightsBase = newBase & ALL_RIGHTS;
  entry.rightsInheriting = newInheriting & ALL_RIGHTS;
  return 0;
}

export function fd_filestat_get(ctx: WasiContext, fd: number, statPtr: number): number {
  ctx.memory.writeFilestat(statPtr, ctx.fds.get(fd, Rights.FD_FILESTAT_GET).stat());
  return 0;
}

export function fd_filestat_set_size(ctx: WasiContext, fd: number, size: bigint): number {
  const entry = ctx.fds.get(fd);
  if (!(entry instanceof FileFd)) throw new WasiError(entry instanceof DirFd ? Errno.ISDIR : Errno.INVAL);
  ctx.fds.get(fd, Rights.FD_FILESTAT_SET_SIZE);
  if (size > MAX_OFFSET) throw new WasiError(Errno.FBIG);
  entry.setSize(offsetArg(size));
  return 0;
}

export function fd_filestat_set_times(
  ctx: WasiContext,
  fd: number,
  atim: bigint,
  mtim: bigint,
  flags: number,
): number {
  const entry = ctx.fds.get(fd, Rights.FD_FILESTAT_SET_TIMES);
  const [a, m] = timesToSet(ctx, atim, mtim, flags);
  entry.setTimes(a, m);
  return 0;
}

export function fd_advise(ctx: WasiContext, fd: number, offset: bigint, len: bigint, advice: number): number {
  fileWithRights(ctx, fd, Rights.FD_ADVISE).advise(offsetArg(offset), offsetArg(len), advice);
  return 0;
}

export function fd_allocate(ctx: WasiContext, fd: number, offset: bigint, len: bigint): number {
  fileWithRights(ctx, fd, Rights.FD_ALLOCATE).allocate(offsetArg(offset), offsetArg(len));
  return 0;
}

export function fd_datasync(ctx: WasiContext, fd: number): number {
  ctx.fds.get(fd, Rights.FD_DATASYNC).sync(true);
  return 0;
}

export function fd_sync(ctx: WasiContext, fd: number): number {
  ctx.fds.get(fd, Rights.FD_SYNC).sync(false);
  return 0;
}

function preopenName(ctx: WasiContext, fd: number): Uint8Array {
  const entry = ctx.fds.get(fd);
  if (!(entry instanceof DirFd) || entry.preopenName === null) throw new WasiError(Errno.BADF);
  return encoder.encode(entry.preopenName);
}

export function fd_prestat_get(ctx: WasiContext, fd: number, prestatPtr: number): number {
  const name = preopenName(ctx, fd);
  const v = ctx.memory.view();
  v.setUint32(prestatPtr + Prestat.TAG, PREOPENTYPE_DIR, true);
  v.setUint32(prestatPtr + Prestat.NAME_LEN, name.length, true);
  return 0;
}

export function fd_prestat_dir_name(ctx: WasiContext, fd: number, pathPtr: number, pathLen: number): number {
  const name = preopenName(ctx, fd);
  if (pathLen < name.length) throw new WasiError(Errno.NAMETOOLONG);
  ctx.memory.slice(pathPtr, name.length).set(name);
  return 0;
}

/**
 * Fills `buf` with dirents from `cookie` on. The last entry may be cut off; a full buffer
 * (`bufused == buf_len`) tells the caller to ask again from that entry's cookie.
 */
export function fd_readdir(
  ctx: WasiContext,
  fd: number,
  buf: number,
  bufLen: number,
  cookie: bigint,
  bufUsedPtr: number,
): number {
  const entry = ctx.fds.get(fd);
  if (!(entry instanceof DirFd)) {
    throw new WasiError(entry.filetype === FileType.REGULAR_FILE ? Errno.NOTDIR : Errno.BADF);
  }
  ctx.fds.get(fd, Rights.FD_READDIR);
  const out = ctx.memory.slice(buf, bufLen);
  const header = new Uint8Array(Dirent.SIZE);
  const hv = new DataView(header.buffer);
  if (cookie > MAX_OFFSET) throw new WasiError(Errno.INVAL);
  let next = Number(cookie);
  let used = 0;
  const batch = Math.min(1024, Math.ceil(bufLen / Dirent.SIZE) + 1);
  while (used < bufLen) {
    const page = entry.entries(next, batch);
    for (const e of page.entries) {
      if (used >= bufLen) break;
      next = e.next;
      const name = encoder.encode(e.name);
      hv.setBigUint64(Dirent.NEXT, BigInt(e.next), true);
      hv.setBigUint64(Dirent.INO, e.ino, true);
      hv.setUint32(Dirent.NAMLEN, name.length, true);
      hv.setUint8(Dirent.TYPE, e.filetype);
      const record = new Uint8Array(Dirent.SIZE + name.length);
      record.set(header);
      record.set(name, Dirent.SIZE);
      const n = Math.min(record.length, bufLen - used);
      out.set(record.subarray(0, n), used);
      used += n;
    }
    if (page.end || page.entries.length === 0) break;
  }
  ctx.memory.view().setUint32(bufUsedPtr, used, true);
  return 0;
}
