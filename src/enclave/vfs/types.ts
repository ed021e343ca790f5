/**
 * The VFS's file-system interface. A file system is a tree of `Inode`s (the data: type, size,
 * times, directory entries); an open file's position, flags and rights live above it in the WASI
 * layer. Regular files are read and written through a `FileHandle` that `Inode.open` returns, so a
 * block-backed file system (ext4 with a page cache) can keep per-open state or share one cache.
 *
 * Every method throws `WasiError` on failure. Names passed to directory methods are single path
 * components, already checked by the caller: non-empty, no '/', no NUL, never '.' or '..'.
 * Offsets and sizes are JavaScript numbers (exact up to 2^53, far beyond any file here).
 */

/** Metadata of an inode, as `filestat` reports it. */
export interface Stat {
  dev: bigint;
  ino: bigint;
  filetype: number;
  nlink: bigint;
  size: bigint;
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
}

/** One directory entry ('.' and '..' are never listed by a file system; the WASI layer adds them). */
export interface DirEntry {
  name: string;
  filetype: number;
  ino: bigint;
  /** The cookie that continues the listing after this entry. */
  next: number;
}

/** A part of a directory listing. */
export interface DirPage {
  entries: DirEntry[];
  /** No entries follow the last one. */
  end: boolean;
}

/** How `Inode.open` opens a regular file. */
export interface OpenOptions {
  /** The handle will be written through. */
  write: boolean;
  /** Cut the file to length 0 on open. */
  truncate: boolean;
}

/** Byte access to an open regular file. */
export interface FileHandle {
  /** Reads into `dst` from `offset`; returns the count, less than `dst.length` only at end of file. */
  read(offset: number, dst: Uint8Array): number;
  /** Writes all of `src` at `offset` (extending the file as needed); returns the count. */
  write(offset: number, src: Uint8Array): number;
  /** The current size in bytes. */
  size(): number;
  stat(): Stat;
  truncate(size: number): void;
  sync(dataOnly: boolean): void;
  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void;
  close(): void;
}

/** A file, directory or symbolic link of one file system. */
export interface Inode {
  readonly fs: FileSystem;
  /** A WASI `filetype`; fixed for the inode's life. */
  readonly filetype: number;
  stat(): Stat;
  /** Sets access and modification times; `null` leaves one unchanged. */
  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void;

  /** Regular files: opens the contents for reading and writing. */
  open(options: OpenOptions): FileHandle;
  /** Directories: makes the entries created, renamed and removed in it durable (`fsync` of a directory). */
  syncEntries(): void;
  /** Symbolic links: the target, verbatim. */
  readlink(): string;

  /**
   * Directories: the entry `name`, without following a symbolic link; null when absent (a miss is
   * common, e.g. SQLite probing for journals, and must not cost an exception).
   */
  lookup(name: string): Inode | null;
  /** Directories: creates an empty regular file; EXIST when `name` exists and `exclusive`. */
  createFile(name: string, exclusive: boolean): Inode;
  mkdir(name: string): Inode;
  symlink(name: string, target: string): Inode;
  /** Removes a non-directory entry. */
  unlink(name: string): void;
  /** Removes an empty directory. */
  rmdir(name: string): void;
  /** Adds `name` as a new link to `target` (same file system, not a directory). */
  link(name: string, target: Inode): void;
  /** Moves entry `name` to `newName` in `newDir` (same file system), replacing as POSIX rename does. */
  rename(name: string, newDir: Inode, newName: string): void;
  /**
   * Directories: at most `max` entries from `cookie` on (0 is the beginning). Cookies are positions
   * the file system chooses (non-negative safe integers); continuing from an entry's `next` must
   * neither skip nor repeat entries that stay in the directory, even when others are removed
   * meanwhile (as `rm -r` does while it lists).
   */
  readdir(cookie: number, max: number): DirPage;
}

/** A mounted file system. */
export interface FileSystem {
  /** A short type name: 'tmpfs', 'hostdir', 'static', 'ext4', ... */
  readonly type: string;
  readonly readOnly: boolean;
  root(): Inode;
  /**
   * Makes every change so far durable, as `fsync` on a directory does (SQLite relies on it after
   * deleting a journal). Absent where nothing outlives the run or the host decides durability.
   */
  sync?(): void;
}
