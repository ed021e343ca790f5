/**
 * The abstract open file descriptor. Each operation defaults to the errno a descriptor of the
 * wrong kind gives (BADF, or SPIPE for seeking, NOTSOCK for socket calls); subclasses override
 * what their kind supports. Rights and flags live here, on the open file, not on the inode.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import type { Inode, Stat } from '../vfs/index.ts';

/** What `pollRead` reports: ready or not, and how many bytes are known to be readable. */
export interface Readiness {
  ready: boolean;
  nbytes: bigint;
  hangup: boolean;
}

/** Socket operations, for descriptors the network stack will provide. */
export interface Socket {
  /** Accepts a connection; returns the new descriptor, not yet in the table. */
  accept(flags: number): Fd;
  /** Receives into `bufs`; returns the count and the `roflags`. */
  recv(bufs: Uint8Array[], flags: number): { count: number; flags: number };
  /** Sends all of `bufs` it can; returns the count. */
  send(bufs: Uint8Array[], flags: number): number;
  shutdown(how: number): void;
}

export abstract class Fd {
  /** WASI `filetype` reported by `fd_fdstat_get`. */
  abstract readonly filetype: number;

  constructor(
    public rightsBase: number,
    public rightsInheriting: number,
    public flags: number,
  ) {}

  /** Reads into `dst` at the current position; a short count means "no more for now". */
  read(_dst: Uint8Array): number {
    throw new WasiError(Errno.BADF);
  }
  write(_src: Uint8Array): number {
    throw new WasiError(Errno.BADF);
  }
  pread(_dst: Uint8Array, _offset: number): number {
    throw new WasiError(Errno.BADF);
  }
  pwrite(_src: Uint8Array, _offset: number): number {
    throw new WasiError(Errno.BADF);
  }
  /** Moves the position; returns the new one. */
  seek(_offset: number, _whence: number): number {
    throw new WasiError(Errno.BADF);
  }
  stat(): Stat {
    throw new WasiError(Errno.BADF);
  }
  setSize(_size: number): void {
    throw new WasiError(Errno.BADF);
  }
  setTimes(_atimNs: bigint | null, _mtimNs: bigint | null): void {
    throw new WasiError(Errno.BADF);
  }
  sync(_dataOnly: boolean): void {
    throw new WasiError(Errno.BADF);
  }
  advise(_offset: number, _len: number, _advice: number): void {
    throw new WasiError(Errno.BADF);
  }
  allocate(_offset: number, _len: number): void {
    throw new WasiError(Errno.BADF);
  }
  /** The directory that relative paths start from (path_* calls). */
  directory(): Inode {
    throw new WasiError(Errno.NOTDIR);
  }
  /** Whether a read would not block, waiting at most `timeoutNs` (0n: just look). */
  pollRead(_timeoutNs: bigint): Readiness {
    throw new WasiError(Errno.BADF);
  }
  pollWrite(): Readiness {
    throw new WasiError(Errno.BADF);
  }
  /** The socket behind this descriptor; NOTSOCK for every other kind. */
  socket(): Socket {
    throw new WasiError(Errno.NOTSOCK);
  }
  close(): void {}
}
