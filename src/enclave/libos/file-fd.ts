/** Open regular files and directories: an inode plus this descriptor's position, flags and rights. */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { DirEntry, DirPage, FileHandle, Inode, Stat } from '../vfs/index.ts';
import { Fd } from './fd.ts';
import type { Readiness } from './fd.ts';
import { ADVICE_MAX, FdFlags, Whence } from './wasi/layout.ts';

/** Largest file offset accepted (2^53 - 1; JavaScript numbers are exact up to there). */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export class FileFd extends Fd {
  readonly filetype = FileType.REGULAR_FILE;
  private position = 0;

  constructor(
    readonly inode: Inode,
    private readonly handle: FileHandle,
    rightsBase: number,
    rightsInheriting: number,
    flags: number,
  ) {
    super(rightsBase, rightsInheriting, flags);
  }

  override read(dst: Uint8Array): number {
    const n = this.handle.read(this.position, dst);
    this.position += n;
    return n;
  }

  override write(src: Uint8Array): number {
    if (this.flags & FdFlags.APPEND) this.position = this.handle.size();
    const n = this.handle.write(this.position, src);
    this.position += n;
    return n;
  }

  override pread(dst: Uint8Array, offset: number): number {
    return this.handle.read(offset, dst);
  }

  override pwrite(src: Uint8Array, offset: number): number {
    // As on Linux, O_APPEND makes pwrite append whatever the offset.
    return this.handle.write(this.flags & FdFlags.APPEND ? this.handle.size() : offset, src);
  }

  override seek(offset: number, whence: number): number {
    let base: number;
    if (whence === Whence.SET) base = 0;
    else if (whence === Whence.CUR) base = this.position;
    else if (whence === Whence.END) base = this.handle.size();
    else throw new WasiError(Errno.INVAL);
    const target = base + offset;
    if (target < 0 || target > MAX_OFFSET) throw new WasiError(Errno.INVAL);
    this.position = target;
    return target;
  }

  override stat(): Stat {
    return this.handle.stat();
  }
  override setSize(size: number): void {
    this.handle.truncate(size);
  }
  override setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.handle.setTimes(atimNs, mtimNs);
  }
  override sync(dataOnly: boolean): void {
    this.handle.sync(dataOnly);
  }

  override advise(_offset: number, _len: number, advice: number): void {
    if (advice > ADVICE_MAX) throw new WasiError(Errno.INVAL);
  }

  override allocate(offset: number, len: number): void {
    const end = offset + len;
    if (end > MAX_OFFSET) throw new WasiError(Errno.FBIG);
    if (end > this.handle.size()) this.handle.truncate(end);
  }

  override pollRead(): Readiness {
    const remaining = this.handle.size() - this.position;
    return { ready: true, nbytes: BigInt(Math.max(0, remaining)), hangup: false };
  }

  override pollWrite(): Readiness {
    return { ready: true, nbytes: 0n, hangup: false };
  }

  override close(): void {
    this.handle.close();
  }
}

export class DirFd extends Fd {
  readonly filetype = FileType.DIRECTORY;

  /**
   * @param parent the directory this one was opened from, for the '..' entry of `fd_readdir`
   * @param preopenName the guest path when this descriptor is a preopen
   */
  constructor(
    readonly inode: Inode,
    private readonly parent: Inode | null,
    rightsBase: number,
    rightsInheriting: number,
    readonly preopenName: string | null = null,
  ) {
    super(rightsBase, rightsInheriting, 0);
  }

  override directory(): Inode {
    return this.inode;
  }

  override stat(): Stat {
    return this.inode.stat();
  }
  override setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.inode.setTimes(atimNs, mtimNs);
  }
  /** `fsync` of a directory: the entries created, renamed and removed in it become durable. */
  override sync(): void {
    this.inode.syncEntries();
  }

  /**
   * At most `max` entries from WASI cookie `cookie` on: 0 is '.', 1 is '..', and n >= 2 is the file
   * system's cookie n - 2. `end` when no entries follow.
   */
  entries(cookie: number, max: number): DirPage {
    const out: DirEntry[] = [];
    if (cookie === 0 && max > 0) {
      out.push({ name: '.', filetype: FileType.DIRECTORY, ino: this.ino(this.inode), next: 1 });
    }
    if (cookie <= 1 && out.length < max) {
      out.push({
        name: '..',
        filetype: FileType.DIRECTORY,
        ino: this.ino(this.parent ?? this.inode),
        next: 2,
      });
    }
    if (out.length === max) return { entries: out, end: false };
    const page = this.inode.readdir(Math.max(0, cookie - 2), max - out.length);
    for (const e of page.entries) out.push({ ...e, next: e.next + 2 });
    return { entries: out, end: page.end };
  }

  private ino(inode: Inode): bigint {
    try {
      return inode.stat().ino;
    } catch {
      return 0n;
    }
  }
}
