/**
 * What the enclave's library OS needs from outside, as typed calls. Inside the enclave these are
 * implemented over the host-call ring (`src/enclave/ring/`); tests may implement them directly.
 * Every method throws `WasiError` on failure. Nothing returned here is trusted by the enclave
 * beyond what it checks itself: hostdir mounts are declared untrusted storage.
 */
import type { WasiError } from './errno.ts';

/** WASI `filetype` values. */
export const FileType = {
  UNKNOWN: 0,
  BLOCK_DEVICE: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const;

export interface HostStat {
  filetype: number;
  dev: bigint;
  ino: bigint;
  nlink: bigint;
  size: bigint;
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
}

export interface HostDirEntry {
  name: string;
  filetype: number;
  ino: bigint;
}

export interface HostOpenFlags {
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  write: boolean;
}

/** A host directory's identity. */
export interface HostDirId {
  dev: bigint;
  ino: bigint;
}

/** What `lookup` found: the entry's stat and, for a directory, a handle on it. */
export interface HostLookup {
  stat: HostStat;
  /** A directory handle when the entry is a directory, else null. */
  dir: number | null;
}

/**
 * Calls on a host directory mount (`--dir HOST::GUEST`), by handle, never by path: the host holds
 * an open directory for each directory handle, and every call names at most one entry of such a
 * directory. Names are single components, checked by the enclave (non-empty, no '/', no NUL,
 * never '.' or '..'); the host acts on the entry itself and never follows a symlink, so nothing
 * outside the mount's directories can be reached (symlinks are resolved inside the enclave).
 * A directory handle stays on its directory when the directory is renamed.
 * Times are nanoseconds since the epoch; `null` leaves a time unchanged.
 */
/** One write of `HostDirCalls.startWrites`. */
export interface HostWrite {
  handle: number;
  offset: bigint;
  data: Uint8Array;
}

export interface HostDirCalls {
  /** A handle on the root directory of mount number `mount`. */
  root(mount: number): number;
  /**
   * lstat of entry `name` of directory `dir`; opens it when it is a directory, unless it is the
   * directory `held` (same device and inode), which the enclave already has a handle on. No such
   * entry is null or the error NOENT (a cache answers null: an exception per miss is slow in V8).
   */
  lookup(dir: number, name: string, held: HostDirId | null): HostLookup | null;
  closeDir(dir: number): void;
  dirStat(dir: number): HostStat;
  dirSetTimes(dir: number, atimNs: bigint | null, mtimNs: bigint | null): void;
  /** Opens regular file `name` of `dir` (never following a symlink) and returns a file handle. */
  open(dir: number, name: string, flags: HostOpenFlags): number;
  close(handle: number): void;
  /**
   * Reads up to `length` bytes at `offset`; fewer only at end of file. The bytes may be a view of
   * a cache's: the caller copies them out before its next call.
   */
  pread(handle: number, offset: bigint, length: number): Uint8Array;
  /**
   * Writes all of `data` at `offset`; returns the count written. `data` is lent for the call only
   * (it may be a view of the program's memory): a callee that keeps the bytes (a cache holding
   * writes does) copies them.
   */
  pwrite(handle: number, offset: bigint, data: Uint8Array): number;
  /**
   * Several `pwrite`s, submitted together and made in order, before any later call; returns once
   * they are sent (their bytes copied), without waiting for the host. The function returned waits
   * for the replies not in yet and gives each write's count, or its error (one failing does not
   * stop the others); it is called once.
   */
  startWrites(writes: readonly HostWrite[]): () => (number | WasiError)[];
  fstat(handle: number): HostStat;
  ftruncate(handle: number, size: bigint): void;
  fsync(handle: number, dataOnly: boolean): void;
  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void;
  /** Entries of directory `dir` (without '.' and '..'), from index `start`, at most `max`. */
  readdir(dir: number, start: number, max: number): { entries: HostDirEntry[]; end: boolean };
  mkdir(dir: number, name: string): void;
  rmdir(dir: number, name: string): void;
  unlink(dir: number, name: string): void;
  rename(fromDir: number, from: string, toDir: number, to: string): void;
  /** Adds `to` in `toDir` as a link to entry `from` of `fromDir` (a symlink is linked, not followed). */
  link(fromDir: number, from: string, toDir: number, to: string): void;
  symlink(target: string, dir: number, name: string): void;
  readlink(dir: number, name: string): string;
  /** Sets the times of entry `name` itself (a symlink is not followed). */
  utimes(dir: number, name: string, atimNs: bigint | null, mtimNs: bigint | null): void;
}

/** stdin, stdout and stderr of the enclave's program, served by the host console. */
export interface ConsoleCalls {
  /** Queues bytes for fd 1 or 2; may return before the host has written them. */
  write(fd: 1 | 2, data: Uint8Array): void;
  /** Reads up to `max` bytes from stdin, blocking until some arrive; an empty result is end of file. */
  readStdin(max: number): Uint8Array;
  /** True when stdin has bytes (or end of file) to read within `timeoutNs`; 0n polls. */
  pollStdin(timeoutNs: bigint): boolean;
  /** True when the host's fd 0, 1 or 2 is a terminal (programs like the SQLite shell prompt only then). */
  isTerminal?(fd: 0 | 1 | 2): boolean;
}

/** Time as the enclave sees it; monotonic never goes back whatever the host says. */
export interface ClockSource {
  realtimeNs(): bigint;
  monotonicNs(): bigint;
  /** Resolution in nanoseconds. */
  resolutionNs(): bigint;
}
