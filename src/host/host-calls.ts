/**
 * What the host does for each call of `src/interface/calls.ts`: console output, stdin, the clock
 * page, host directories (`--dir`) and block devices (image files). Paths arrive relative to a
 * mount root; the host refuses any that could leave it, although the enclave never sends one.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { Calls } from '../interface/calls.ts';
import {
  decodePathPair,
  decodeUtf8,
  encodeDirEntries,
  encodeStat,
  encodeUtf8,
  STAT_BYTES,
} from '../interface/codec.ts';
import { Errno } from '../interface/errno.ts';
import { mailboxCall } from '../interface/mailbox.ts';
import { QeOp } from '../interface/platform.ts';
import { NET_FETCH } from '../interface/net-relay.ts';
import { OpenFlag } from '../interface/ring.ts';
import { FileType, type HostDirEntry, type HostStat } from '../interface/services.ts';
import { errnoOf } from './errno-map.ts';
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

function isSafeRelative(path: string): boolean {
  if (path === '') return true;
  return (
    !path.startsWith('/') &&
    !path.includes('\0') &&
    path.split('/').every((c) => c !== '' && c !== '.' && c !== '..')
  );
}

function nsToDate(ns: bigint): number {
  return Number(ns) / 1e9;
}

/** Builds the handler that serves one enclave's calls. */
export function createHostCalls(config: HostCallConfig): (request: Request) => Response {
  const handles = new Map<number, number>();
  let nextHandle = 1;
  const blockFds = config.blockDevices.map((d) => fs.openSync(d.path, d.writable ? 'r+' : 'r'));

  const resolve = (mount: bigint, payload: Uint8Array): string => {
    const root = config.mounts[Number(mount)];
    const path = decodeUtf8(payload);
    if (root === undefined || !isSafeRelative(path))
      throw Object.assign(new Error('bad path'), { code: 'EINVAL' });
    return path === '' ? root : join(root, path);
  };
  const hostFd = (handle: bigint): number => {
    const fd = handles.get(Number(handle));
    if (fd === undefined) throw Object.assign(new Error('bad handle'), { code: 'EBADF' });
    return fd;
  };
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
    [
      Calls.dirLstat.id,
      (req) => {
        // A missing file is the common answer (journals, locks): no exception for it.
        const stat = fs.lstatSync(resolve(req.args[0], req.payload), { bigint: true, throwIfNoEntry: false });
        return stat ? withStat(req, stat) : { errno: Errno.NOENT };
      },
    ],
    [
      Calls.dirOpen.id,
      (req) => {
        const bits = Number(req.args[1]);
        const c = fs.constants;
        const flags =
          (bits & OpenFlag.write ? c.O_RDWR : c.O_RDONLY) |
          (bits & OpenFlag.create ? c.O_CREAT : 0) |
          (bits & OpenFlag.exclusive ? c.O_EXCL : 0) |
          (bits & OpenFlag.truncate ? c.O_TRUNC : 0) |
          c.O_NOFOLLOW;
        const fd = fs.openSync(resolve(req.args[0], req.payload), flags, 0o644);
        if (!fs.fstatSync(fd).isFile()) {
          fs.closeSync(fd);
          throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
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
        const dir = resolve(req.args[0], req.payload);
        const names = fs.readdirSync(dir).sort();
        const start = Number(req.args[1]);
        const slice = names.slice(start, start + Number(req.args[2]));
        const entries: HostDirEntry[] = slice.map((name) => {
          const stat = fs.lstatSync(join(dir, name), { bigint: true });
          return { name, ino: stat.ino, filetype: fileType(stat) };
        });
        const [length, count] = encodeDirEntries(entries, req.data.subarray(0, req.replyLimit));
        return { errno: Errno.SUCCESS, replyLength: length, result: start + count >= names.length ? 1n : 0n };
      },
    ],
    [Calls.dirMkdir.id, pathOp((p) => fs.mkdirSync(p, 0o755))],
    [Calls.dirRmdir.id, pathOp((p) => fs.rmdirSync(p))],
    [Calls.dirUnlink.id, pathOp((p) => fs.unlinkSync(p))],
    [
      Calls.dirRename.id,
      (req) => {
        const [from, to] = decodePathPair(req.payload);
        fs.renameSync(resolve(req.args[0], encodeUtf8(from)), resolve(req.args[0], encodeUtf8(to)));
        return OK;
      },
    ],
    [
      Calls.dirLink.id,
      (req) => {
        const [from, to] = decodePathPair(req.payload);
        fs.linkSync(resolve(req.args[0], encodeUtf8(from)), resolve(req.args[0], encodeUtf8(to)));
        return OK;
      },
    ],
    [
      Calls.dirSymlink.id,
      (req) => {
        const [target, path] = decodePathPair(req.payload);
        fs.symlinkSync(target, resolve(req.args[0], encodeUtf8(path)));
        return OK;
      },
    ],
    [
      Calls.dirReadlink.id,
      (req) => {
        const target = Buffer.from(
          fs.readlinkSync(resolve(req.args[0], req.payload), { encoding: 'buffer' }),
        );
        const n = Math.min(target.length, req.replyLimit);
        req.data.set(target.subarray(0, n));
        return { errno: Errno.SUCCESS, replyLength: n };
      },
    ],
    [
      Calls.dirUtimes.id,
      (req) => {
        const path = resolve(req.args[0], req.payload);
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

  function pathOp(op: (path: string) => void): (req: Request) => Response {
    return (req) => {
      op(resolve(req.args[0], req.payload));
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
