import type { BlockDevice } from '../blockdev/types.ts';
import { ByteRangeIo } from './device.ts';
import { miniWasiImports, WasmExit } from './wasi.ts';
import { Errno, WasiError, errnoName } from '../../interface/errno.ts';
import { wasmApi } from '../wasm-api.ts';

/** The compiled ext2fs.wasm, as returned by {@link compileExt2fs}. */
export type Ext2fsModule = { readonly __brand: 'Ext2fsModule' };

/** Compiles ext2fs.wasm once; the result can open any number of file systems. */
export function compileExt2fs(wasmBytes: Uint8Array): Ext2fsModule {
  return new wasmApi.Module(wasmBytes) as Ext2fsModule;
}

/** File types as ext4 stores them in inodes and directory entries. */
export type FileType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';

/** Attributes of one inode. Times are nanoseconds since the Unix epoch. */
export interface Ext4Stat {
  ino: number;
  type: FileType;
  /** Permission bits (07777); `rawMode` has the type bits too. */
  mode: number;
  rawMode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** Space used, in 512-byte units (as `st_blocks`). */
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  crtimeNs: bigint;
  /** ext4 inode flags (`EXT4_EXTENTS_FL`, `EXT2_INDEX_FL`, ...). */
  flags: number;
  rdev: number;
}

/** One directory entry (`.` and `..` included). */
export interface DirEntry {
  name: string;
  ino: number;
  type: FileType;
}

/** Space and inode counts of the file system. */
export interface StatFs {
  blockSize: number;
  blocks: number;
  freeBlocks: number;
  reservedBlocks: number;
  inodes: number;
  freeInodes: number;
  maxNameLength: number;
  readOnly: boolean;
}

/** Owner and permissions of a new inode. */
export interface CreateOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

/** How {@link Ext4Fs.open} opens the file system. */
export interface Ext4OpenOptions {
  /** ext2fs.wasm: its bytes, or a module compiled with {@link compileExt2fs}. */
  wasm: Uint8Array | Ext2fsModule;
  /** Open without writing anything (default true). */
  readOnly?: boolean;
  /** Receives messages libext2fs prints (default: dropped). */
  log?: (line: string) => void;
  /** Trusted wall clock in ns since the epoch, for timestamps (default: `Date.now()`). */
  now?: () => bigint;
}

interface Exports {
  memory: { buffer: ArrayBuffer };
  _initialize(): void;
  cl_alloc(size: number): number;
  cl_free(ptr: number): void;
  cl_last_error_message(): number;
  cl_open(flags: number, deviceBytes: number): number;
  cl_flush(): number;
  cl_close(): number;
  cl_statfs(out: number): number;
  cl_lookup(dir: number, name: number, len: number): number;
  cl_stat(ino: number, out: number): number;
  cl_read(ino: number, offset: number, buf: number, len: number): number;
  cl_write(ino: number, offset: number, buf: number, len: number): number;
  cl_truncate(ino: number, size: number): number;
  cl_create(dir: number, name: number, len: number, mode: number, uid: number, gid: number): number;
  cl_mkdir(dir: number, name: number, len: number, mode: number, uid: number, gid: number): number;
  cl_symlink(
    dir: number,
    name: number,
    len: number,
    target: number,
    tlen: number,
    uid: number,
    gid: number,
  ): number;
  cl_readlink(ino: number, buf: number, cap: number): number;
  cl_link(ino: number, dir: number, name: number, len: number): number;
  cl_unlink(dir: number, name: number, len: number): number;
  cl_rmdir(dir: number, name: number, len: number): number;
  cl_rename(sdir: number, sname: number, slen: number, ddir: number, dname: number, dlen: number): number;
  cl_set_times(ino: number, which: number, aSec: number, aNsec: number, mSec: number, mNsec: number): number;
  cl_chmod(ino: number, mode: number): number;
  cl_chown(ino: number, uid: number, gid: number): number;
  cl_readdir(dir: number, out: number): number;
}

/** Inode number of the root directory. */
export const ROOT_INO = 2;

const S_IFMT = 0o170000;
const MODE_TYPES: Record<number, FileType> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'chardev',
  0o060000: 'blockdev',
  0o010000: 'fifo',
  0o140000: 'socket',
};
const DIRENT_TYPES: FileType[] = [
  'unknown',
  'file',
  'dir',
  'chardev',
  'blockdev',
  'fifo',
  'socket',
  'symlink',
];
// The errno values glue.c returns are wasi-libc's, i.e. WASI preview1's own numbers; they are
// translated by name so this code stays right whatever numbering `Errno` uses.
const WASI_ERRNO_NAMES: Record<number, keyof typeof Errno> = {
  8: 'BADF',
  10: 'BUSY',
  20: 'EXIST',
  22: 'FBIG',
  28: 'INVAL',
  29: 'IO',
  31: 'ISDIR',
  32: 'LOOP',
  34: 'MLINK',
  37: 'NAMETOOLONG',
  44: 'NOENT',
  48: 'NOMEM',
  51: 'NOSPC',
  54: 'NOTDIR',
  55: 'NOTEMPTY',
  58: 'NOTSUP',
  63: 'PERM',
  68: 'RANGE',
  69: 'ROFS',
};
const WASI_EIO = 29;
const MAX_SYMLINK_HOPS = 40;
const IO_CHUNK = 1 << 20;
const SCRATCH = 4096;
const NS = 1_000_000_000n;

/**
 * An ext4 file system on a block device, implemented by e2fsprogs' libext2fs compiled to WebAssembly
 * (ext2fs.wasm) and running inside the enclave. Every call is synchronous. Errors are `WasiError`s
 * with WASI errno values; a failure of the device below is `EIO` carrying the device's message.
 *
 * libext2fs does not journal: what reaches the device between two {@link flush} calls is not crash
 * consistent by itself, so a writable volume must commit atomically at flush points.
 */
export class Ext4Fs {
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private view: Uint8Array;
  private data: DataView;
  private scratch: number;
  private buffer = 0;
  private bufferSize = 0;
  private ioError: unknown = undefined;
  private closed = false;

  private constructor(
    private readonly ex: Exports,
    readonly readOnly: boolean,
  ) {
    this.view = new Uint8Array(ex.memory.buffer);
    this.data = new DataView(ex.memory.buffer);
    this.scratch = ex.cl_alloc(SCRATCH);
    if (!this.scratch) throw new WasiError(Errno.NOMEM, 'ext4: out of wasm memory');
  }

  /**
   * Opens the ext4 file system on `device`; fails with a clear `WasiError` if it is not one. libext2fs
   * has no cache of its own and reads files a block per call: give it a device with a `BlockCache`
   * on top (the block layer's), except over memory.
   */
  static open(device: BlockDevice, options: Ext4OpenOptions): Ext4Fs {
    const readOnly = options.readOnly ?? true;
    const module = options.wasm instanceof Uint8Array ? compileExt2fs(options.wasm) : options.wasm;
    const io = new ByteRangeIo(device);
    // The imports are bound before the instance exists; they reach it through this holder.
    const bound: { fs?: Ext4Fs; memory?: { buffer: ArrayBuffer } } = {};
    const imports = {
      read: (offset: number, ptr: number, len: number): number =>
        bound.fs ? bound.fs.ioCall((fs) => io.read(offset, fs.bytes(ptr, len))) : WASI_EIO,
      write: (offset: number, ptr: number, len: number): number =>
        bound.fs
          ? bound.fs.ioCall((fs) => (readOnly ? fail(Errno.ROFS) : io.write(offset, fs.bytes(ptr, len))))
          : WASI_EIO,
      flush: (): number => (bound.fs ? bound.fs.ioCall(() => (readOnly ? undefined : io.flush())) : WASI_EIO),
    };
    const wasi = miniWasiImports(() => (bound.memory as { buffer: ArrayBuffer }).buffer, {
      log: options.log ?? (() => {}),
      now: options.now ?? (() => BigInt(Date.now()) * 1_000_000n),
    });
    const instance = new wasmApi.Instance(module, { cloister_io: imports, wasi_snapshot_preview1: wasi });
    const ex = instance.exports as unknown as Exports;
    bound.memory = ex.memory;
    ex._initialize();
    const fs = new Ext4Fs(ex, readOnly);
    bound.fs = fs;
    fs.call('open', () => ex.cl_open(readOnly ? 0 : 1, io.sizeBytes));
    return fs;
  }

  /** Resolves an absolute path (symlinks in the middle are followed, the last one if `follow`). */
  lookup(path: string, options: { follow?: boolean } = {}): number {
    return this.walk(ROOT_INO, path, options.follow ?? true, { hops: 0 });
  }

  /** Resolves all but the last component of `path`: its directory's inode and the last name. */
  lookupParent(path: string): { dir: number; name: string } {
    const trimmed = path.replace(/\/+$/, '');
    const cut = trimmed.lastIndexOf('/');
    const name = trimmed.slice(cut + 1);
    if (name === '') throw new WasiError(Errno.INVAL, `ext4: ${path}: no last component`);
    return { dir: cut <= 0 ? ROOT_INO : this.lookup(trimmed.slice(0, cut)), name };
  }

  /** Looks one name up in directory `dir`. */
  lookupIn(dir: number, name: string): number {
    return this.withName(name, (p, n) => this.call('lookup', () => this.ex.cl_lookup(dir, p, n)));
  }

  /** The attributes of inode `ino`. */
  stat(ino: number): Ext4Stat {
    this.call('stat', () => this.ex.cl_stat(ino, this.scratch));
    const d = this.dv();
    const s = this.scratch;
    const time = (at: number): bigint =>
      d.getBigInt64(s + at, true) * NS + BigInt(d.getUint32(s + at + 8, true));
    const rawMode = d.getUint32(s, true);
    return {
      ino,
      type: MODE_TYPES[rawMode & S_IFMT] ?? 'unknown',
      mode: rawMode & 0o7777,
      rawMode,
      nlink: d.getUint32(s + 4, true),
      uid: d.getUint32(s + 8, true),
      gid: d.getUint32(s + 12, true),
      size: Number(d.getBigUint64(s + 16, true)),
      blocks: Number(d.getBigUint64(s + 24, true)),
      atimeNs: time(32),
      flags: d.getUint32(s + 44, true),
      mtimeNs: time(48),
      ctimeNs: time(64),
      rdev: d.getUint32(s + 76, true),
      crtimeNs: time(80),
    };
  }

  /** Reads up to `length` bytes at `offset` (fewer at end of file). */
  read(ino: number, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const n = this.readInto(ino, offset, out);
    return n === length ? out : out.slice(0, n);
  }

  /** Reads into `dst` from `offset`; returns the number of bytes read (short at end of file). */
  readInto(ino: number, offset: number, dst: Uint8Array): number {
    checkOffset(offset);
    let done = 0;
    while (done < dst.length) {
      const want = Math.min(IO_CHUNK, dst.length - done);
      const buf = this.ensureBuffer(want);
      const got = this.call('read', () => this.ex.cl_read(ino, offset + done, buf, want));
      dst.set(this.bytes(buf, got), done);
      done += got;
      if (got < want) break;
    }
    return done;
  }

  /** Reads a whole file. */
  readFile(ino: number): Uint8Array {
    return this.read(ino, 0, this.stat(ino).size);
  }

  /**
   * Writes `data` at `offset`, allocating blocks as needed; returns the count written, which is short
   * only when the file system filled up part-way (the next write then fails with `NOSPC`).
   */
  write(ino: number, offset: number, data: Uint8Array): number {
    checkOffset(offset);
    let done = 0;
    while (done < data.length) {
      const want = Math.min(IO_CHUNK, data.length - done);
      const buf = this.ensureBuffer(want);
      this.bytes(buf, want).set(data.subarray(done, done + want));
      const put = this.call('write', () => this.ex.cl_write(ino, offset + done, buf, want));
      done += put;
      if (put < want) break;
    }
    return done;
  }

  /** Sets the size of a regular file. */
  truncate(ino: number, size: number): void {
    checkOffset(size);
    this.call('truncate', () => this.ex.cl_truncate(ino, size));
  }

  /** Creates an empty regular file `name` in `dir` (mode default 0644); returns its inode. */
  create(dir: number, name: string, options: CreateOptions = {}): number {
    const mode = 0o100000 | ((options.mode ?? 0o644) & 0o7777);
    return this.withName(name, (p, n) =>
      this.call('create', () => this.ex.cl_create(dir, p, n, mode, options.uid ?? 0, options.gid ?? 0)),
    );
  }

  /** Creates directory `name` in `dir` (mode default 0755); returns its inode. */
  mkdir(dir: number, name: string, options: CreateOptions = {}): number {
    const mode = (options.mode ?? 0o755) & 0o7777;
    return this.withName(name, (p, n) =>
      this.call('mkdir', () => this.ex.cl_mkdir(dir, p, n, mode, options.uid ?? 0, options.gid ?? 0)),
    );
  }

  /** Creates symbolic link `name` in `dir` pointing at `target`; returns its inode. */
  symlink(dir: number, name: string, target: string, options: Omit<CreateOptions, 'mode'> = {}): number {
    const t = this.encoder.encode(target);
    return this.withName(name, (p, n) => {
      const buf = this.ensureBuffer(t.length);
      this.bytes(buf, t.length).set(t);
      return this.call('symlink', () =>
        this.ex.cl_symlink(dir, p, n, buf, t.length, options.uid ?? 0, options.gid ?? 0),
      );
    });
  }

  /** The target of symbolic link `ino`. */
  readlink(ino: number): string {
    const buf = this.ensureBuffer(65536);
    const n = this.call('readlink', () => this.ex.cl_readlink(ino, buf, 65536));
    return this.decoder.decode(this.bytes(buf, n));
  }

  /** Adds the hard link `name` in `dir` to the non-directory `ino`. */
  link(ino: number, dir: number, name: string): void {
    this.withName(name, (p, n) => this.call('link', () => this.ex.cl_link(ino, dir, p, n)));
  }

  /** Removes the non-directory `name` from `dir`; the inode is freed with its last link. */
  unlink(dir: number, name: string): void {
    this.withName(name, (p, n) => this.call('unlink', () => this.ex.cl_unlink(dir, p, n)));
  }

  /** Removes the empty directory `name` from `dir`. */
  rmdir(dir: number, name: string): void {
    this.withName(name, (p, n) => this.call('rmdir', () => this.ex.cl_rmdir(dir, p, n)));
  }

  /** Renames `fromDir/fromName` to `toDir/toName`, replacing a compatible target as POSIX rename does. */
  rename(fromDir: number, fromName: string, toDir: number, toName: string): void {
    const a = this.encoder.encode(fromName);
    const b = this.encoder.encode(toName);
    if (a.length + b.length > SCRATCH) throw new WasiError(Errno.NAMETOOLONG, 'ext4: rename: name too long');
    const buf = this.ensureBuffer(a.length + b.length);
    this.bytes(buf, a.length).set(a);
    this.bytes(buf + a.length, b.length).set(b);
    this.call('rename', () => this.ex.cl_rename(fromDir, buf, a.length, toDir, buf + a.length, b.length));
  }

  /** Lists directory `dir`, `.` and `..` included, in on-disk order. */
  readdir(dir: number): DirEntry[] {
    this.call('readdir', () => this.ex.cl_readdir(dir, this.scratch));
    const d = this.dv();
    const ptr = d.getUint32(this.scratch, true);
    const len = d.getUint32(this.scratch + 4, true);
    const raw = this.bytes(ptr, len).slice();
    this.ex.cl_free(ptr);
    const entries: DirEntry[] = [];
    const rv = new DataView(raw.buffer);
    for (let at = 0; at + 6 <= raw.length;) {
      const n = raw[at + 5];
      entries.push({
        ino: rv.getUint32(at, true),
        type: DIRENT_TYPES[raw[at + 4]] ?? 'unknown',
        name: this.decoder.decode(raw.subarray(at + 6, at + 6 + n)),
      });
      at += 6 + n;
    }
    return entries;
  }

  /** Sets the access and/or modification time (ns since the epoch); ctime becomes now. */
  setTimes(ino: number, times: { atimeNs?: bigint; mtimeNs?: bigint }): void {
    const split = (ns: bigint | undefined): [number, number] => {
      if (ns === undefined) return [0, 0];
      const nsec = ((ns % NS) + NS) % NS;
      return [Number((ns - nsec) / NS), Number(nsec)];
    };
    const [as, an] = split(times.atimeNs);
    const [ms, mn] = split(times.mtimeNs);
    const which = (times.atimeNs !== undefined ? 1 : 0) | (times.mtimeNs !== undefined ? 2 : 0);
    this.call('setTimes', () => this.ex.cl_set_times(ino, which, as, an, ms, mn));
  }

  /** Sets the permission bits (07777). */
  chmod(ino: number, mode: number): void {
    this.call('chmod', () => this.ex.cl_chmod(ino, mode & 0o7777));
  }

  /** Sets owner and group. */
  chown(ino: number, uid: number, gid: number): void {
    this.call('chown', () => this.ex.cl_chown(ino, uid >>> 0, gid >>> 0));
  }

  /** Space and inode counts. */
  statfs(): StatFs {
    this.call('statfs', () => this.ex.cl_statfs(this.scratch));
    const d = this.dv();
    const at = (i: number): number => Number(d.getBigUint64(this.scratch + i * 8, true));
    return {
      blockSize: at(0),
      blocks: at(1),
      freeBlocks: at(2),
      reservedBlocks: at(3),
      inodes: at(4),
      freeInodes: at(5),
      maxNameLength: at(6),
      readOnly: at(7) === 0,
    };
  }

  /** Writes all metadata and cached blocks to the device and flushes it (a commit point). */
  flush(): void {
    this.call('flush', () => this.ex.cl_flush());
  }

  /** Flushes (when writable) and closes; the instance is unusable afterwards. */
  close(): void {
    if (this.closed) return;
    try {
      this.call('close', () => this.ex.cl_close());
    } finally {
      this.closed = true;
    }
  }

  private walk(start: number, path: string, follow: boolean, budget: { hops: number }): number {
    let ino = path.startsWith('/') ? ROOT_INO : start;
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const dir = ino;
      ino = this.lookupIn(dir, parts[i]);
      if ((follow || i < parts.length - 1) && this.stat(ino).type === 'symlink') {
        if (++budget.hops > MAX_SYMLINK_HOPS)
          throw new WasiError(Errno.LOOP, `ext4: ${path}: too many symlinks`);
        ino = this.walk(dir, this.readlink(ino), true, budget);
      }
    }
    return ino;
  }

  /** Runs a device access for the C side: never lets an exception cross the wasm frames. */
  private ioCall(action: (fs: Ext4Fs) => void): number {
    try {
      action(this);
      return 0;
    } catch (err) {
      this.ioError ??= err;
      // Always EIO to the C side; call() rethrows the recorded error with its own errno.
      return WASI_EIO;
    }
  }

  private call(op: string, fn: () => number): number {
    if (this.closed) throw new WasiError(Errno.BADF, `ext4: ${op}: file system is closed`);
    this.ioError = undefined;
    let rc: number;
    try {
      rc = fn();
    } catch (err) {
      // A trap or proc_exit leaves the C state undefined: refuse further use.
      this.closed = true;
      const why = err instanceof WasmExit ? err.message : String(err);
      throw new WasiError(Errno.IO, `ext4: ${op}: ext2fs.wasm failed: ${why}`);
    }
    const ioError = this.ioError;
    this.ioError = undefined;
    // A device failure is reported even when libext2fs carried on (a short write, a failed flush
    // inside close): the caller must not believe its data reached the device.
    if (ioError !== undefined) {
      const message = ioError instanceof Error ? ioError.message : String(ioError);
      const errno = ioError instanceof WasiError && ioError.errno === Errno.ROFS ? Errno.ROFS : Errno.IO;
      throw new WasiError(errno, `ext4: ${op}: ${message}`);
    }
    if (rc >= 0) return rc;
    const errno = Errno[WASI_ERRNO_NAMES[-rc] ?? 'IO'];
    const detail = this.cString(this.ex.cl_last_error_message());
    throw new WasiError(errno, `ext4: ${op}: ${detail || errnoName(errno)}`);
  }

  private withName<T>(name: string, fn: (ptr: number, len: number) => T): T {
    const bytes = this.encoder.encode(name);
    if (bytes.length > 255)
      throw new WasiError(Errno.NAMETOOLONG, `ext4: name too long: ${name.slice(0, 32)}...`);
    this.bytes(this.scratch + 256, bytes.length).set(bytes);
    return fn(this.scratch + 256, bytes.length);
  }

  private ensureBuffer(size: number): number {
    if (size > this.bufferSize) {
      if (this.buffer) this.ex.cl_free(this.buffer);
      this.buffer = 0;
      const cap = Math.max(size, 65536);
      this.buffer = this.ex.cl_alloc(cap);
      if (!this.buffer) throw new WasiError(Errno.NOMEM, 'ext4: out of wasm memory');
      this.bufferSize = cap;
    }
    return this.buffer;
  }

  /** A view of wasm memory, re-created after `memory.grow` replaced the buffer. */
  private bytes(ptr: number, len: number): Uint8Array {
    if (this.view.buffer !== this.ex.memory.buffer) this.refreshViews();
    return this.view.subarray(ptr, ptr + len);
  }

  private dv(): DataView {
    if (this.data.buffer !== this.ex.memory.buffer) this.refreshViews();
    return this.data;
  }

  private refreshViews(): void {
    this.view = new Uint8Array(this.ex.memory.buffer);
    this.data = new DataView(this.ex.memory.buffer);
  }

  private cString(ptr: number): string {
    if (!ptr) return '';
    const view = this.bytes(0, this.ex.memory.buffer.byteLength);
    const end = view.indexOf(0, ptr);
    return this.decoder.decode(view.subarray(ptr, end < 0 ? ptr : end));
  }
}

function fail(errno: number): never {
  throw new WasiError(errno);
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new WasiError(Errno.INVAL, `ext4: bad offset ${offset}`);
}
