/**
 * What the enclave's library OS needs from outside, as typed calls. Inside the enclave these are
 * implemented over the host-call ring (`src/enclave/ring/`); tests may implement them directly.
 * Every method throws `WasiError` on failure. Nothing returned here is trusted by the enclave
 * beyond what it checks itself: hostdir mounts are declared untrusted storage.
 */

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

/**
 * Calls on a host directory mount (`--dir HOST::GUEST`). `mount` is the mount's index in the
 * host-side mount list. Paths are relative to the mount root and already resolved inside the
 * enclave: '/'-separated, no empty, '.' or '..' components, no symlink in any prefix; '' is the
 * mount root. The last component is never followed if it is a symlink (lstat semantics).
 * Times are nanoseconds since the epoch; `null` leaves a time unchanged.
 */
export interface HostDirCalls {
  lstat(mount: number, path: string): HostStat;
  /** Opens a regular file and returns a host handle. */
  open(mount: number, path: string, flags: HostOpenFlags): number;
  close(handle: number): void;
  /** Reads up to `length` bytes at `offset`; fewer only at end of file. */
  pread(handle: number, offset: bigint, length: number): Uint8Array;
  /** Writes all of `data` at `offset`; returns the count written. */
  pwrite(handle: number, offset: bigint, data: Uint8Array): number;
  fstat(handle: number): HostStat;
  ftruncate(handle: number, size: bigint): void;
  fsync(handle: number, dataOnly: boolean): void;
  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void;
  /** Entries of a directory (without '.' and '..'), from index `start`, at most `max`. */
  readdir(mount: number, path: string, start: number, max: number): { entries: HostDirEntry[]; end: boolean };
  mkdir(mount: number, path: string): void;
  rmdir(mount: number, path: string): void;
  unlink(mount: number, path: string): void;
  rename(mount: number, from: string, to: string): void;
  link(mount: number, from: string, to: string): void;
  symlink(target: string, mount: number, path: string): void;
  readlink(mount: number, path: string): string;
  /** Sets the times of the path itself (a symlink is not followed). */
  utimes(mount: number, path: string, atimNs: bigint | null, mtimNs: bigint | null): void;
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
