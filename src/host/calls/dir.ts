/**
 * Host directories (`--dir`), untrusted storage served by handle, as gVisor's lisafs does: the
 * host keeps an open file descriptor for each directory handle and every call names one entry of
 * such a directory. Node has no openat(), so the entry is reached as `/proc/self/fd/<dir fd>/<name>`:
 * the kernel jumps from the magic link straight to the open directory (wherever it now is) and
 * looks up the one name there, and the operations used never follow a symlink in that last
 * component (lstat, open with O_NOFOLLOW, mkdir, unlink, rename, link, lutimes, readlink). No path
 * the host walks has a component a guest controls besides that name, so nothing outside a mount
 * is reachable.
 */
import * as fs from 'node:fs';
import type { Calls, LookupFound } from '../../interface/calls.ts';
import { OpenFlag } from '../../interface/ring.ts';
import { FileType, type HostDirEntry, type HostStat } from '../../interface/services.ts';
import { preadFully, pwriteFully } from './file-io.ts';
import { failure, type AreaHandlers } from './serve.ts';

export interface HostDirs {
  handlers: AreaHandlers<typeof Calls, 'host-dir'>;
  /** Closes every file and directory handed out (the enclave has gone). */
  closeAll(): void;
}

const c = fs.constants;
const DIR_FLAGS = c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW;
/** A missing entry is the common answer (journals, locks): one error, thrown without building a new one. */
const NO_ENTRY = failure('ENOENT', 'no such entry');

function fileType(stat: fs.BigIntStats | fs.Stats | fs.Dirent): number {
  if (stat.isFile()) return FileType.REGULAR_FILE;
  if (stat.isDirectory()) return FileType.DIRECTORY;
  if (stat.isSymbolicLink()) return FileType.SYMBOLIC_LINK;
  if (stat.isCharacterDevice()) return FileType.CHARACTER_DEVICE;
  if (stat.isBlockDevice()) return FileType.BLOCK_DEVICE;
  if (stat.isSocket()) return FileType.SOCKET_STREAM;
  return FileType.UNKNOWN;
}

function toHostStat(stat: fs.BigIntStats): HostStat {
  return {
    filetype: fileType(stat),
    dev: stat.dev,
    ino: stat.ino,
    nlink: stat.nlink,
    size: stat.size,
    atimNs: stat.atimeNs,
    mtimNs: stat.mtimeNs,
    ctimNs: stat.ctimeNs,
  };
}

/** True when `name` is one entry of a directory: no separator, not '.' or '..', no NUL. */
function isEntryName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** utimes arguments: a null time keeps the current one. */
function times(atim: bigint | null, mtim: bigint | null, current: fs.BigIntStats): [number, number] {
  return [Number(atim ?? current.atimeNs) / 1e9, Number(mtim ?? current.mtimeNs) / 1e9];
}

function openFlags(bits: number): number {
  return (
    (bits & OpenFlag.write ? c.O_RDWR : c.O_RDONLY) |
    (bits & OpenFlag.create ? c.O_CREAT : 0) |
    (bits & OpenFlag.exclusive ? c.O_EXCL : 0) |
    (bits & OpenFlag.truncate ? c.O_TRUNC : 0) |
    // Never through a symlink; never blocking on a FIFO the host put there.
    c.O_NOFOLLOW |
    c.O_NONBLOCK
  );
}

/** The handlers of the host-directory mounts `mounts` (mount i is `mounts[i]`). */
export function hostDirs(mounts: readonly string[]): HostDirs {
  /** Open files and open directories, by handle: neither map's handles stand for the other's. */
  const files = new Map<number, number>();
  const dirs = new Map<number, number>();
  let nextHandle = 1;

  const fileFd = (handle: number): number => {
    const fd = files.get(handle);
    if (fd === undefined) throw failure('EBADF', 'bad handle');
    return fd;
  };
  const dirFd = (handle: number): number => {
    const fd = dirs.get(handle);
    if (fd === undefined) throw failure('EBADF', 'bad directory handle');
    return fd;
  };
  const add = (map: Map<number, number>, fd: number): number => {
    const handle = nextHandle++;
    map.set(handle, fd);
    return handle;
  };
  /** The host path of entry `name` of directory handle `dir`: only `name` is looked up, in that directory. */
  const entry = (dir: number, name: string): string => {
    if (!isEntryName(name)) throw failure('EINVAL', 'bad entry name');
    return `/proc/self/fd/${dirFd(dir)}/${name}`;
  };
  const statOf = (fd: number): HostStat => toHostStat(fs.fstatSync(fd, { bigint: true }));

  const lookup = (dir: number, name: string, held: { dev: bigint; ino: bigint } | null): LookupFound => {
    const path = entry(dir, name);
    const stat = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (!stat) throw NO_ENTRY;
    if (!stat.isDirectory()) return { stat: toHostStat(stat), dir: null };
    // The enclave already holds a handle on this very directory: no second one.
    if (held && stat.dev === held.dev && stat.ino === held.ino) return { stat: toHostStat(stat), dir: null };
    // The stat returned is the open directory's own, so it describes what the handle holds.
    const fd = fs.openSync(path, DIR_FLAGS);
    try {
      return { stat: statOf(fd), dir: add(dirs, fd) };
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  };

  const handlers: HostDirs['handlers'] = {
    dirRoot: ({ mount }) => {
      const root = mounts[mount];
      if (root === undefined) throw failure('EINVAL', 'no such mount');
      // The mount root is the user's choice and may be reached through a symlink; below it, nothing is.
      const fd = fs.openSync(root, c.O_RDONLY | c.O_DIRECTORY);
      if (!fs.existsSync(`/proc/self/fd/${fd}`)) {
        fs.closeSync(fd);
        throw failure('ENOTSUP', 'host directories need /proc/self/fd (Linux)');
      }
      return add(dirs, fd);
    },
    dirLookup: ({ dir, name, held }) => lookup(dir, name, held),
    dirClose: ({ dir }) => {
      fs.closeSync(dirFd(dir));
      dirs.delete(dir);
    },
    dirStat: ({ dir }) => statOf(dirFd(dir)),
    dirSetTimes: ({ dir, atimNs, mtimNs }) => {
      const fd = dirFd(dir);
      fs.futimesSync(fd, ...times(atimNs, mtimNs, fs.fstatSync(fd, { bigint: true })));
    },
    dirOpen: ({ dir, name, flags }) => {
      const fd = fs.openSync(entry(dir, name), openFlags(flags), 0o644);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw failure('EISDIR', 'not a file');
      }
      return add(files, fd);
    },
    dirReaddir: ({ dir, start, max }) => {
      const names = fs.readdirSync(`/proc/self/fd/${dirFd(dir)}`).sort();
      const slice = names.slice(start, start + max);
      const entries: HostDirEntry[] = slice.map((name) => {
        const stat = fs.lstatSync(entry(dir, name), { bigint: true });
        return { name, ino: stat.ino, filetype: fileType(stat) };
      });
      return { entries, end: start + slice.length >= names.length };
    },
    dirMkdir: ({ dir, name }) => fs.mkdirSync(entry(dir, name), 0o755),
    dirRmdir: ({ dir, name }) => fs.rmdirSync(entry(dir, name)),
    dirUnlink: ({ dir, name }) => fs.unlinkSync(entry(dir, name)),
    dirRename: ({ fromDir, from, toDir, to }) => fs.renameSync(entry(fromDir, from), entry(toDir, to)),
    // link(2) on Linux links a symlink itself, never what it points to.
    dirLink: ({ fromDir, from, toDir, to }) => fs.linkSync(entry(fromDir, from), entry(toDir, to)),
    // The target is stored verbatim and never followed by this server (the enclave resolves links).
    dirSymlink: ({ target, dir, name }) => fs.symlinkSync(target, entry(dir, name)),
    dirReadlink: ({ dir, name }) => fs.readlinkSync(entry(dir, name), { encoding: 'buffer' }),
    dirUtimes: ({ dir, name, atimNs, mtimNs }) => {
      const path = entry(dir, name);
      fs.lutimesSync(path, ...times(atimNs, mtimNs, fs.lstatSync(path, { bigint: true })));
    },
    fileClose: ({ handle }) => {
      fs.closeSync(fileFd(handle));
      files.delete(handle);
    },
    filePread: ({ handle, offset, length }, out) =>
      preadFully(fileFd(handle), out, Math.min(length, out.length), offset),
    filePwrite: ({ handle, offset, data }) => pwriteFully(fileFd(handle), data, offset),
    fileFstat: ({ handle }) => statOf(fileFd(handle)),
    fileTruncate: ({ handle, size }) => fs.ftruncateSync(fileFd(handle), Number(size)),
    fileSync: ({ handle, dataOnly }) =>
      dataOnly ? fs.fdatasyncSync(fileFd(handle)) : fs.fsyncSync(fileFd(handle)),
    fileUtimes: ({ handle, atimNs, mtimNs }) => {
      const fd = fileFd(handle);
      fs.futimesSync(fd, ...times(atimNs, mtimNs, fs.fstatSync(fd, { bigint: true })));
    },
  };

  return {
    handlers,
    closeAll: () => {
      for (const fd of [...files.values(), ...dirs.values()]) fs.closeSync(fd);
      files.clear();
      dirs.clear();
    },
  };
}
