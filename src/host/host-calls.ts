/**
 * What the host does for each call of `src/interface/calls.ts`: console output, stdin, the clock
 * page, host directories (`--dir`) and block devices (image files).
 *
 * Host directories are served by handle, as gVisor's lisafs does: the host keeps an open file
 * descriptor for each directory handle and every call names one entry of such a directory. Node
 * has no openat(), so the entry is reached as `/proc/self/fd/<dir fd>/<name>`: the kernel jumps
 * from the magic link straight to the open directory (wherever it now is) and looks up the one
 * name there, and the operations used never follow a symlink in that last component (lstat,
 * open with O_NOFOLLOW, mkdir, unlink, rename, link, lutimes, readlink). No path the host walks
 * has a component a guest controls besides that name, so nothing outside a mount is reachable.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { Calls } from '../interface/calls.ts';
import { decodeNamePair, decodeUtf8, encodeDirEntries, encodeStat, STAT_BYTES } from '../interface/codec.ts';
import { Errno } from '../interface/errno.ts';
import { mailboxCall } from '../interface/mailbox.ts';
import { QeOp } from '../interface/platform.ts';
import { NET_FETCH } from '../interface/net-relay.ts';
import { OpenFlag } from '../interface/ring.ts';
import { FileType, type HostDirEntry, type HostStat } from '../interface/services.ts';
import { errnoOf } from './errno-map.ts';
import { datagramCalls } from './net-datagrams.ts';
import type { Request, Response } from './ring-server.ts';
import type { StdinReader } from './stdin-bridge.ts';

export interface BlockDeviceFile {
  path: string;
  writable: boolean;
}

export interface HostCallConfig {
  /** Host directory of each `--dir` mount, by mount index. */
  mounts: readonly string[];
  blockDevices: readonly BlockDeviceFile[];
  stdin: StdinReader;
  /** Called by the `exit` call with (status, kind, message). */
  onExit: (status: number, kind: number, message: string) => void;
  /** Where the clock page lives. */
  clockPage: BigInt64Array;
  /** The quoting enclave's mailbox (served by the platform in the launching process). */
  qeMailbox: SharedArrayBuffer;
  /** The network relay's mailbox (served by the launching process). */
  netMailbox: SharedArrayBuffer;
  /** The `--net` UDP socket's mailbox (net-datagrams.ts), when the run has a network. */
  datagramMailbox?: SharedArrayBuffer;
}

const OK: Response = { errno: Errno.SUCCESS };

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

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function nsToDate(ns: bigint): number {
  return Number(ns) / 1e9;
}

/** Builds the handler that serves one enclave's calls. */
export function createHostCalls(config: HostCallConfig): (request: Request) => Response {
  const handles = new Map<number, number>();
  let nextHandle = 1;
  const blockFds = config.blockDevices.map((d) => fs.openSync(d.path, d.writable ? 'r+' : 'r'));

  /** Open directories, by handle (file handles are a separate map: neither stands for the other). */
  const dirs = new Map<number, number>();
  const hostFd = (handle: bigint): number => {
    const fd = handles.get(Number(handle));
    if (fd === undefined) throw failure('EBADF', 'bad handle');
    return fd;
  };
  const dirFd = (handle: bigint): number => {
    const fd = dirs.get(Number(handle));
    if (fd === undefined) throw failure('EBADF', 'bad directory handle');
    return fd;
  };
  const addDir = (fd: number): bigint => {
    const handle = nextHandle++;
    dirs.set(handle, fd);
    return BigInt(handle);
  };
  /** The host path of entry `name` of directory handle `dir`: only `name` is looked up, in that directory. */
  const entry = (dir: bigint, name: string): string => {
    if (!isEntryName(name)) throw failure('EINVAL', 'bad entry name');
    return `/proc/self/fd/${dirFd(dir)}/${name}`;
  };
  const entryOf = (req: Request): string => entry(req.args[0], decodeUtf8(req.payload));
  const c = fs.constants;
  const DIR_FLAGS = c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW;
  const blockFd = (device: bigint): number => {
    const fd = blockFds[Number(device)];
    if (fd === undefined) throw Object.assign(new Error('bad device'), { code: 'EINVAL' });
    return fd;
  };
  const times = (atim: bigint, mtim: bigint, current: fs.BigIntStats): [number, number] => [
    nsToDate(atim < 0n ? current.atimeNs : atim),
    nsToDate(mtim < 0n ? current.mtimeNs : mtim),
  ];
  const withStat = (req: Request, stat: fs.BigIntStats): Response => ({
    errno: Errno.SUCCESS,
    replyLength: encodeStat(toHostStat(stat), req.data.subarray(0, STAT_BYTES)),
  });

  const table = new Map<number, (req: Request) => Response>([
    [
      Calls.exit.id,
      (req) => {
        config.onExit(Number(req.args[0]), Number(req.args[1]), decodeUtf8(req.payload));
        // The enclave is gone: its files and directories close with it, also in a long-lived launcher.
        for (const fd of [...handles.values(), ...dirs.values()]) fs.closeSync(fd);
        handles.clear();
        dirs.clear();
        return OK;
      },
    ],
    [
      Calls.clockSync.id,
      (req) => {
        const wallNs = BigInt(Date.now()) * 1_000_000n;
        Atomics.store(config.clockPage, 0, wallNs - req.args[0]);
        return OK;
      },
    ],
    [
      Calls.consoleWrite.id,
      (req) => {
        writeAll(Number(req.args[0]) === 2 ? 2 : 1, req.payload);
        return OK;
      },
    ],
    [
      Calls.consoleInfo.id,
      () => ({
        errno: Errno.SUCCESS,
        result: BigInt([0, 1, 2].reduce((bits, fd) => bits | (isatty(fd) ? 1 << fd : 0), 0)),
      }),
    ],
    [
      Calls.stdinRead.id,
      (req) => ({
        errno: Errno.SUCCESS,
        replyLength: config.stdin.read(req.data.subarray(0, req.replyLimit)),
      }),
    ],
    [
      Calls.stdinPoll.id,
      (req) => {
        const timeoutMs = Number(req.args[0]) / 1e6;
        return { errno: Errno.SUCCESS, result: config.stdin.poll(timeoutMs) ? 1n : 0n };
      },
    ],
    [
      Calls.blockRead.id,
      (req) => {
        const n = preadFully(
          blockFd(req.args[0]),
          req.data,
          Math.min(Number(req.args[2]), req.replyLimit),
          req.args[1],
        );
        return { errno: Errno.SUCCESS, replyLength: n, result: BigInt(n) };
      },
    ],
    [
      Calls.blockWrite.id,
      (req) => ({
        errno: Errno.SUCCESS,
        result: BigInt(pwriteFully(blockFd(req.args[0]), req.payload, req.args[1])),
      }),
    ],
    [
      Calls.blockInfo.id,
      (req) => ({ errno: Errno.SUCCESS, result: BigInt(fs.fstatSync(blockFd(req.args[0])).size) }),
    ],
    [
      Calls.blockFlush.id,
      (req) => {
        fs.fsyncSync(blockFd(req.args[0]));
        return OK;
      },
    ],
    [Calls.qeTargetInfo.id, (req) => relay(req, QeOp.TARGET_INFO, new Uint8Array(0))],
    [Calls.quote.id, (req) => relay(req, QeOp.QUOTE, req.payload)],
    [Calls.netFetch.id, (req) => relay(req, NET_FETCH, req.payload, config.netMailbox)],
    ...datagramCalls(config.datagramMailbox),
    [
      Calls.dirRoot.id,
      (req) => {
        const root = config.mounts[Number(req.args[0])];
        if (root === undefined) throw failure('EINVAL', 'no such mount');
        // The mount root is the user's choice and may be reached through a symlink; below it, nothing is.
        const fd = fs.openSync(root, c.O_RDONLY | c.O_DIRECTORY);
        if (!fs.existsSync(`/proc/self/fd/${fd}`)) {
          fs.closeSync(fd);
          throw failure('ENOTSUP', 'host directories need /proc/self/fd (Linux)');
        }
        return { errno: Errno.SUCCESS, result: addDir(fd) };
      },
    ],
    [
      Calls.dirLookup.id,
      (req) => {
        const path = entryOf(req);
        // A missing file is the common answer (journals, locks): no exception for it.
        const stat = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
        if (!stat) return { errno: Errno.NOENT };
        if (!stat.isDirectory()) return withStat(req, stat);
        // The enclave already holds a handle on this very directory: no second one.
        const [, held, dev, ino] = req.args;
        if (held === 1n && stat.dev === BigInt.asUintN(64, dev) && stat.ino === BigInt.asUintN(64, ino)) {
          return withStat(req, stat);
        }
        // The stat returned is the open directory's own, so it describes what the handle holds.
        const fd = fs.openSync(path, DIR_FLAGS);
        try {
          return { ...withStat(req, fs.fstatSync(fd, { bigint: true })), result: addDir(fd) };
        } catch (error) {
          fs.closeSync(fd);
          throw error;
        }
      },
    ],
    [
      Calls.dirClose.id,
      (req) => {
        fs.closeSync(dirFd(req.args[0]));
        dirs.delete(Number(req.args[0]));
        return OK;
      },
    ],
    [Calls.dirStat.id, (req) => withStat(req, fs.fstatSync(dirFd(req.args[0]), { bigint: true }))],
    [
      Calls.dirSetTimes.id,
      (req) => {
        const fd = dirFd(req.args[0]);
        fs.futimesSync(fd, ...times(req.args[1], req.args[2], fs.fstatSync(fd, { bigint: true })));
        return OK;
      },
    ],
    [
      Calls.dirOpen.id,
      (req) => {
        const bits = Number(req.args[1]);
        const flags =
          (bits & OpenFlag.write ? c.O_RDWR : c.O_RDONLY) |
          (bits & OpenFlag.create ? c.O_CREAT : 0) |
          (bits & OpenFlag.exclusive ? c.O_EXCL : 0) |
          (bits & OpenFlag.truncate ? c.O_TRUNC : 0) |
          // Never through a symlink; never blocking on a FIFO the host put there.
          c.O_NOFOLLOW |
          c.O_NONBLOCK;
        const fd = fs.openSync(entryOf(req), flags, 0o644);
        if (!fs.fstatSync(fd).isFile()) {
          fs.closeSync(fd);
          throw failure('EISDIR', 'not a file');
        }
        const handle = nextHandle++;
        handles.set(handle, fd);
        return { errno: Errno.SUCCESS, result: BigInt(handle) };
      },
    ],
    [
      Calls.fileClose.id,
      (req) => {
        fs.closeSync(hostFd(req.args[0]));
        handles.delete(Number(req.args[0]));
        return OK;
      },
    ],
    [
      Calls.filePread.id,
      (req) => ({
        errno: Errno.SUCCESS,
        replyLength: preadFully(
          hostFd(req.args[0]),
          req.data,
          Math.min(Number(req.args[2]), req.replyLimit),
          req.args[1],
        ),
      }),
    ],
    [
      Calls.filePwrite.id,
      (req) => ({
        errno: Errno.SUCCESS,
        result: BigInt(pwriteFully(hostFd(req.args[0]), req.payload, req.args[1])),
      }),
    ],
    [Calls.fileFstat.id, (req) => withStat(req, fs.fstatSync(hostFd(req.args[0]), { bigint: true }))],
    [
      Calls.fileTruncate.id,
      (req) => {
        fs.ftruncateSync(hostFd(req.args[0]), Number(req.args[1]));
        return OK;
      },
    ],
    [
      Calls.fileSync.id,
      (req) => {
        const fd = hostFd(req.args[0]);
        if (req.args[1] === 1n) fs.fdatasyncSync(fd);
        else fs.fsyncSync(fd);
        return OK;
      },
    ],
    [
      Calls.fileUtimes.id,
      (req) => {
        const fd = hostFd(req.args[0]);
        fs.futimesSync(fd, ...times(req.args[1], req.args[2], fs.fstatSync(fd, { bigint: true })));
        return OK;
      },
    ],
    [
      Calls.dirReaddir.id,
      (req) => {
        const dir = req.args[0];
        const names = fs.readdirSync(`/proc/self/fd/${dirFd(dir)}`).sort();
        const start = Number(req.args[1]);
        const slice = names.slice(start, start + Number(req.args[2]));
        const entries: HostDirEntry[] = slice.map((name) => {
          const stat = fs.lstatSync(entry(dir, name), { bigint: true });
          return { name, ino: stat.ino, filetype: fileType(stat) };
        });
        const [length, count] = encodeDirEntries(entries, req.data.subarray(0, req.replyLimit));
        return { errno: Errno.SUCCESS, replyLength: length, result: start + count >= names.length ? 1n : 0n };
      },
    ],
    [Calls.dirMkdir.id, entryOp((p) => fs.mkdirSync(p, 0o755))],
    [Calls.dirRmdir.id, entryOp((p) => fs.rmdirSync(p))],
    [Calls.dirUnlink.id, entryOp((p) => fs.unlinkSync(p))],
    [
      Calls.dirRename.id,
      (req) => {
        const [from, to] = decodeNamePair(req.payload);
        fs.renameSync(entry(req.args[0], from), entry(req.args[1], to));
        return OK;
      },
    ],
    [
      Calls.dirLink.id,
      (req) => {
        const [from, to] = decodeNamePair(req.payload);
        // link(2) on Linux links a symlink itself, never what it points to.
        fs.linkSync(entry(req.args[0], from), entry(req.args[1], to));
        return OK;
      },
    ],
    [
      Calls.dirSymlink.id,
      (req) => {
        // The target is stored verbatim and never followed by this server (the enclave resolves links).
        const [target, name] = decodeNamePair(req.payload);
        fs.symlinkSync(target, entry(req.args[0], name));
        return OK;
      },
    ],
    [
      Calls.dirReadlink.id,
      (req) => {
        const target = Buffer.from(fs.readlinkSync(entryOf(req), { encoding: 'buffer' }));
        const n = Math.min(target.length, req.replyLimit);
        req.data.set(target.subarray(0, n));
        return { errno: Errno.SUCCESS, replyLength: n };
      },
    ],
    [
      Calls.dirUtimes.id,
      (req) => {
        const path = entryOf(req);
        fs.lutimesSync(path, ...times(req.args[1], req.args[2], fs.lstatSync(path, { bigint: true })));
        return OK;
      },
    ],
  ]);

  /** Hands a request to a service of the launching process (the QE, the network) and its answer back. */
  function relay(req: Request, op: number, payload: Uint8Array, mailbox = config.qeMailbox): Response {
    const reply = mailboxCall(mailbox, op, payload.slice());
    if (reply.status !== 0) return { errno: Errno.INVAL };
    if (reply.data.length > req.replyLimit) return { errno: Errno.IO };
    req.data.set(reply.data);
    return { errno: Errno.SUCCESS, replyLength: reply.data.length };
  }

  function entryOp(op: (path: string) => void): (req: Request) => Response {
    return (req) => {
      op(entryOf(req));
      return OK;
    };
  }

  return (request) => {
    const serve = table.get(request.callId);
    if (!serve) return { errno: Errno.NOSYS };
    try {
      return serve(request);
    } catch (error) {
      return { errno: errnoOf(error) };
    }
  };
}

/** Reads up to `length` bytes at `position` into `out`, fewer only at end of file. */
function preadFully(fd: number, out: Uint8Array, length: number, position: bigint): number {
  let n = 0;
  while (n < length) {
    const got = fs.readSync(fd, out, n, length - n, position + BigInt(n));
    if (got === 0) break;
    n += got;
  }
  return n;
}

/** Writes all of `bytes` at `position`; returns the count. */
function pwriteFully(fd: number, bytes: Uint8Array, position: bigint): number {
  let done = 0;
  while (done < bytes.length)
    done += fs.writeSync(fd, bytes, done, bytes.length - done, Number(position) + done);
  return done;
}

/** Writes all bytes to a host fd, waiting out EAGAIN on non-blocking pipes and terminals. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (done < bytes.length) {
    try {
      done += fs.writeSync(fd, bytes, done, bytes.length - done);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
