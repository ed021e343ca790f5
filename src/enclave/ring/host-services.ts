/**
 * `HostDirCalls`, `ConsoleCalls` and the clock over the host-call ring. Each method marshals its
 * arguments into one or more requests and validates what comes back (see `channel.ts` for the
 * protocol checks); a reply that does not make sense for the call is EIO.
 */
import { Calls } from '../../interface/calls.ts';
import {
  STAT_BYTES,
  WireError,
  decodeDirEntries,
  decodeStat,
  decodeUtf8,
  encodePathPair,
  encodeUtf8,
} from '../../interface/codec.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import { OpenFlag, SLOT_DATA_BYTES } from '../../interface/ring.ts';
import type {
  ClockSource,
  ConsoleCalls,
  HostDirCalls,
  HostDirEntry,
  HostOpenFlags,
  HostStat,
} from '../../interface/services.ts';
import type { HostChannel, Reply } from './channel.ts';

const MAX_LINK_BYTES = 4096;
const MAX_HANDLE = 0x7fffffffn;

/** Reply bytes that do not decode are the host's fault: EIO to the caller. */
function decoded<T>(decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof WireError) throw new WasiError(Errno.IO, e.message);
    throw e;
  }
}

function timeArg(ns: bigint | null): bigint {
  return ns === null ? -1n : ns;
}

export class RingHostDir implements HostDirCalls {
  constructor(private readonly channel: HostChannel) {}

  private pathCall(
    spec: (typeof Calls)[keyof typeof Calls],
    mount: number,
    path: string,
    args: bigint[] = [],
    replyLimit = 0,
  ): Reply {
    return this.channel.call(spec, [BigInt(mount), ...args], encodeUtf8(path), replyLimit);
  }

  lstat(mount: number, path: string): HostStat {
    const reply = this.pathCall(Calls.dirLstat, mount, path, [], STAT_BYTES);
    return decoded(() => decodeStat(reply.data));
  }

  open(mount: number, path: string, flags: HostOpenFlags): number {
    const bits =
      (flags.create ? OpenFlag.create : 0) |
      (flags.exclusive ? OpenFlag.exclusive : 0) |
      (flags.truncate ? OpenFlag.truncate : 0) |
      (flags.write ? OpenFlag.write : 0);
    const { result } = this.pathCall(Calls.dirOpen, mount, path, [BigInt(bits)]);
    if (result < 0n || result > MAX_HANDLE) throw new WasiError(Errno.IO, `dir_open: handle ${result}`);
    return Number(result);
  }

  close(handle: number): void {
    this.channel.call(Calls.fileClose, [BigInt(handle)]);
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, SLOT_DATA_BYTES);
      const { data } = this.channel.call(
        Calls.filePread,
        [BigInt(handle), offset + BigInt(done), BigInt(want)],
        undefined,
        want,
      );
      out.set(data, done);
      done += data.length;
      if (data.length < want) break;
    }
    return done === length ? out : out.subarray(0, done);
  }

  pwrite(handle: number, offset: bigint, data: Uint8Array): number {
    let done = 0;
    while (done < data.length) {
      const chunk = data.subarray(done, done + SLOT_DATA_BYTES);
      const { result } = this.channel.call(Calls.filePwrite, [BigInt(handle), offset + BigInt(done)], chunk);
      if (result !== BigInt(chunk.length))
        throw new WasiError(Errno.IO, `file_pwrite: host wrote ${result} of ${chunk.length}`);
      done += chunk.length;
    }
    return done;
  }

  fstat(handle: number): HostStat {
    const reply = this.channel.call(Calls.fileFstat, [BigInt(handle)], undefined, STAT_BYTES);
    return decoded(() => decodeStat(reply.data));
  }

  ftruncate(handle: number, size: bigint): void {
    this.channel.call(Calls.fileTruncate, [BigInt(handle), size]);
  }

  fsync(handle: number, dataOnly: boolean): void {
    this.channel.call(Calls.fileSync, [BigInt(handle), dataOnly ? 1n : 0n]);
  }

  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.channel.call(Calls.fileUtimes, [BigInt(handle), timeArg(atimNs), timeArg(mtimNs)]);
  }

  readdir(
    mount: number,
    path: string,
    start: number,
    max: number,
  ): { entries: HostDirEntry[]; end: boolean } {
    const reply = this.pathCall(Calls.dirReaddir, mount, path, [BigInt(start), BigInt(max)], SLOT_DATA_BYTES);
    if (reply.result !== 0n && reply.result !== 1n)
      throw new WasiError(Errno.IO, 'dir_readdir: bad end flag');
    const entries = decoded(() => decodeDirEntries(reply.data));
    if (entries.length > max) throw new WasiError(Errno.IO, 'dir_readdir: more entries than asked for');
    return { entries, end: reply.result === 1n };
  }

  mkdir(mount: number, path: string): void {
    this.pathCall(Calls.dirMkdir, mount, path);
  }

  rmdir(mount: number, path: string): void {
    this.pathCall(Calls.dirRmdir, mount, path);
  }

  unlink(mount: number, path: string): void {
    this.pathCall(Calls.dirUnlink, mount, path);
  }

  rename(mount: number, from: string, to: string): void {
    this.channel.call(Calls.dirRename, [BigInt(mount)], encodePathPair(from, to));
  }

  link(mount: number, from: string, to: string): void {
    this.channel.call(Calls.dirLink, [BigInt(mount)], encodePathPair(from, to));
  }

  symlink(target: string, mount: number, path: string): void {
    this.channel.call(Calls.dirSymlink, [BigInt(mount)], encodePathPair(target, path));
  }

  readlink(mount: number, path: string): string {
    const reply = this.pathCall(Calls.dirReadlink, mount, path, [], MAX_LINK_BYTES);
    return decoded(() => {
      const target = decodeUtf8(reply.data);
      if (target.includes('\0')) throw new WireError('symlink target with NUL');
      return target;
    });
  }

  utimes(mount: number, path: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.pathCall(Calls.dirUtimes, mount, path, [timeArg(atimNs), timeArg(mtimNs)]);
  }
}

export class RingConsole implements ConsoleCalls {
  private terminals: number | undefined;

  constructor(private readonly channel: HostChannel) {}

  isTerminal(fd: 0 | 1 | 2): boolean {
    this.terminals ??= Number(this.channel.call(Calls.consoleInfo, []).result & 7n);
    return (this.terminals & (1 << fd)) !== 0;
  }

  /**
   * Output is posted (not waited for), so a reader that went away shows up a few writes later, when
   * a failed write's slot is reused; from then on the stream fails with EPIPE, as a closed pipe does.
   */
  write(fd: 1 | 2, data: Uint8Array): void {
    if (this.channel.postedError(Calls.consoleWrite, BigInt(fd)) === Errno.PIPE) {
      throw new WasiError(Errno.PIPE, 'the reader of this stream has gone');
    }
    for (let done = 0; done < data.length; done += SLOT_DATA_BYTES) {
      this.channel.post(Calls.consoleWrite, [BigInt(fd)], data.subarray(done, done + SLOT_DATA_BYTES));
    }
  }

  readStdin(max: number): Uint8Array {
    const want = Math.min(max, SLOT_DATA_BYTES);
    return this.channel.call(Calls.stdinRead, [BigInt(want)], undefined, want).data;
  }

  pollStdin(timeoutNs: bigint): boolean {
    const { result } = this.channel.call(Calls.stdinPoll, [timeoutNs]);
    if (result !== 0n && result !== 1n) throw new WasiError(Errno.IO, 'stdin_poll: bad result');
    return result === 1n;
  }
}

/**
 * Monotonic time comes from inside the enclave (`performance.now()`, standing in for the TSC an
 * SGX2 enclave reads). Wall-clock time is that plus the offset the host publishes in the clock
 * page (after `clock_sync` told it the enclave's monotonic time), which the host may lie about: programs get what the host says the date is, never a
 * monotonic clock that runs backwards.
 */
export class RingClock implements ClockSource {
  private offsetNs: bigint;

  constructor(
    private readonly channel: HostChannel,
    private readonly clockPage: BigInt64Array,
  ) {
    this.channel.call(Calls.clockSync, [this.monotonicNs()]);
    this.offsetNs = Atomics.load(this.clockPage, 0);
  }

  monotonicNs(): bigint {
    return BigInt(Math.round(performance.now() * 1e6));
  }

  realtimeNs(): bigint {
    return this.monotonicNs() + this.offsetNs;
  }

  resolutionNs(): bigint {
    return 1000n;
  }
}
