/**
 * `HostDirCalls`, `ConsoleCalls` and the clock over the host-call ring, through the typed stubs of
 * the call table (`stubs.ts`): each method builds its call's arguments and checks what the
 * decoded reply means for it; a reply that does not make sense for the call is EIO.
 */
import { Calls } from '../../interface/calls.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import { HostPage, OpenFlag, SLOT_DATA_BYTES } from '../../interface/ring.ts';
import type {
  ClockSource,
  ConsoleCalls,
  HostDirCalls,
  HostDirEntry,
  HostDirId,
  HostLookup,
  HostOpenFlags,
  HostStat,
  HostWrite,
} from '../../interface/services.ts';
import type { HostChannel } from './channel.ts';
import { startHostCallEach, stubs, type Stubs } from './stubs.ts';

export class RingHostDir implements HostDirCalls {
  private readonly host: Stubs<typeof Calls>;

  constructor(private readonly channel: HostChannel) {
    this.host = stubs(channel, Calls);
  }

  root(mount: number): number {
    return this.host.dirRoot({ mount });
  }

  lookup(dir: number, name: string, held: HostDirId | null): HostLookup {
    return this.host.dirLookup({ dir, name, held });
  }

  closeDir(dir: number): void {
    // Nothing waits on a close: handles are never reused, so a late close harms no later call.
    this.host.dirClose({ dir });
  }

  dirStat(dir: number): HostStat {
    return this.host.dirStat({ dir });
  }

  dirSetTimes(dir: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.host.dirSetTimes({ dir, atimNs, mtimNs });
  }

  open(dir: number, name: string, flags: HostOpenFlags): number {
    const bits =
      (flags.create ? OpenFlag.create : 0) |
      (flags.exclusive ? OpenFlag.exclusive : 0) |
      (flags.truncate ? OpenFlag.truncate : 0) |
      (flags.write ? OpenFlag.write : 0);
    return this.host.dirOpen({ dir, name, flags: bits });
  }

  close(handle: number): void {
    this.host.fileClose({ handle });
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, SLOT_DATA_BYTES);
      const data = this.host.filePread({ handle, offset: offset + BigInt(done), length: want });
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
      const written = this.host.filePwrite({ handle, offset: offset + BigInt(done), data: chunk });
      if (written !== chunk.length)
        throw new WasiError(Errno.IO, `file_pwrite: host wrote ${written} of ${chunk.length}`);
      done += chunk.length;
    }
    return done;
  }

  startWrites(writes: readonly HostWrite[]): () => (number | WasiError)[] {
    if (writes.some(({ data }) => data.length > SLOT_DATA_BYTES)) {
      throw new RangeError('file_pwrite: a batched write larger than a slot');
    }
    const results = startHostCallEach(this.channel, Calls.filePwrite, writes);
    const lengths = writes.map(({ data }) => data.length);
    return () =>
      results().map((written, i) =>
        written instanceof WasiError || written === lengths[i]
          ? written
          : new WasiError(Errno.IO, `file_pwrite: host wrote ${written} of ${lengths[i]}`),
      );
  }

  fstat(handle: number): HostStat {
    return this.host.fileFstat({ handle });
  }

  ftruncate(handle: number, size: bigint): void {
    this.host.fileTruncate({ handle, size });
  }

  fsync(handle: number, dataOnly: boolean): void {
    this.host.fileSync({ handle, dataOnly });
  }

  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.host.fileUtimes({ handle, atimNs, mtimNs });
  }

  readdir(dir: number, start: number, max: number): { entries: HostDirEntry[]; end: boolean } {
    return this.host.dirReaddir({ dir, start, max });
  }

  mkdir(dir: number, name: string): void {
    this.host.dirMkdir({ dir, name });
  }

  rmdir(dir: number, name: string): void {
    this.host.dirRmdir({ dir, name });
  }

  unlink(dir: number, name: string): void {
    this.host.dirUnlink({ dir, name });
  }

  rename(fromDir: number, from: string, toDir: number, to: string): void {
    this.host.dirRename({ fromDir, from, toDir, to });
  }

  link(fromDir: number, from: string, toDir: number, to: string): void {
    this.host.dirLink({ fromDir, from, toDir, to });
  }

  symlink(target: string, dir: number, name: string): void {
    this.host.dirSymlink({ target, dir, name });
  }

  readlink(dir: number, name: string): string {
    return this.host.dirReadlink({ dir, name });
  }

  utimes(dir: number, name: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.host.dirUtimes({ dir, name, atimNs, mtimNs });
  }
}

export class RingConsole implements ConsoleCalls {
  private readonly host: Stubs<typeof Calls>;

  /** `hostPage`: the ring's clock page, where `clock_sync` left the host's terminal bits. */
  constructor(
    private readonly channel: HostChannel,
    private readonly hostPage: BigInt64Array,
  ) {
    this.host = stubs(channel, Calls);
  }

  isTerminal(fd: 0 | 1 | 2): boolean {
    return (Atomics.load(this.hostPage, HostPage.terminals) & (1n << BigInt(fd))) !== 0n;
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
      this.host.consoleWrite({ fd, data: data.subarray(done, done + SLOT_DATA_BYTES) });
    }
  }

  readStdin(max: number): Uint8Array {
    return this.host.stdinRead({ max: Math.min(max, SLOT_DATA_BYTES), timeoutNs: -1n }).data;
  }

  pollStdin(timeoutNs: bigint): boolean {
    return this.host.stdinRead({ max: 0, timeoutNs }).ready;
  }
}

/**
 * Monotonic time comes from inside the enclave (`performance.now()`, standing in for the TSC an
 * SGX2 enclave reads). Wall-clock time is that plus the offset the host publishes in the clock
 * page (after `clock_sync` told it the enclave's monotonic time), which the host may lie about:
 * programs get what the host says the date is, never a monotonic clock that runs backwards.
 */
export class RingClock implements ClockSource {
  private offsetNs: bigint;

  constructor(channel: HostChannel, clockPage: BigInt64Array) {
    stubs(channel, Calls).clockSync({ monotonicNs: this.monotonicNs() });
    this.offsetNs = Atomics.load(clockPage, HostPage.clockOffset);
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
