/**
 * ext4 as a VFS file system: the `Inode` interface over `Ext4Fs` inode numbers. The blocks below
 * are decrypted and verified in the enclave (dm-verity + LUKS2, or an authenticated volume), so
 * what this driver returns is trusted data or an EIO, never the host's guess.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { Ext4Fs, Ext4Stat, FileType as Ext4FileType } from '../../common/ext4/index.ts';
import { ROOT_INO } from '../../common/ext4/index.ts';
import { InodeBase } from '../vfs/base.ts';
import { Ext4NameCache } from './ext4-names.ts';
import type { DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from '../vfs/index.ts';

const FILETYPES: Record<Ext4FileType, number> = {
  file: FileType.REGULAR_FILE,
  dir: FileType.DIRECTORY,
  symlink: FileType.SYMBOLIC_LINK,
  chardev: FileType.CHARACTER_DEVICE,
  blockdev: FileType.BLOCK_DEVICE,
  fifo: FileType.UNKNOWN,
  socket: FileType.SOCKET_STREAM,
  unknown: FileType.UNKNOWN,
};

/**
 * Device numbers of ext4 mounts: one per mount, so that (dev, ino) names one file across mounts, in a
 * range of their own (tmpfs counts from 1, host directories from 2^32, static files from 2^48).
 */
let nextDev = 1n << 40n;

export class Ext4FileSystem implements FileSystem {
  readonly type = 'ext4';
  readonly dev = nextDev++;
  /** Names already looked up in this mount's directories. */
  readonly names = new Ext4NameCache();

  constructor(
    readonly ext4: Ext4Fs,
    readonly readOnly: boolean,
  ) {}

  root(): Inode {
    return new Ext4Inode(this, ROOT_INO, FileType.DIRECTORY);
  }

  sync(): void {
    if (!this.readOnly) this.ext4.flush();
  }

  inode(ino: number): Ext4Inode {
    return new Ext4Inode(this, ino, FILETYPES[this.ext4.stat(ino).type]);
  }

  writable(): void {
    if (this.readOnly) throw new WasiError(Errno.ROFS);
  }
}

function toStat(s: Ext4Stat, dev: bigint): Stat {
  return {
    dev,
    ino: BigInt(s.ino),
    filetype: FILETYPES[s.type],
    nlink: BigInt(s.nlink),
    size: BigInt(s.size),
    atimNs: s.atimeNs,
    mtimNs: s.mtimeNs,
    ctimNs: s.ctimeNs,
  };
}

function times(atimNs: bigint | null, mtimNs: bigint | null): { atimeNs?: bigint; mtimeNs?: bigint } {
  return { ...(atimNs === null ? {} : { atimeNs: atimNs }), ...(mtimNs === null ? {} : { mtimeNs: mtimNs }) };
}

class Ext4Inode extends InodeBase {
  constructor(
    readonly fs: Ext4FileSystem,
    readonly ino: number,
    readonly filetype: number,
  ) {
    super();
  }

  private get ext4(): Ext4Fs {
    return this.fs.ext4;
  }

  stat(): Stat {
    return toStat(this.ext4.stat(this.ino), this.fs.dev);
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.fs.writable();
    this.ext4.setTimes(this.ino, times(atimNs, mtimNs));
  }

  override open(options: OpenOptions): FileHandle {
    if (this.filetype !== FileType.REGULAR_FILE) return super.open(options);
    if (options.write || options.truncate) this.fs.writable();
    if (options.truncate) this.ext4.truncate(this.ino, 0);
    const { ext4, ino, fs } = this;
    return {
      read: (offset, dst) => ext4.readInto(ino, offset, dst),
      write: (offset, src) => {
        fs.writable();
        return ext4.write(ino, offset, src);
      },
      size: () => ext4.stat(ino).size,
      stat: () => toStat(ext4.stat(ino), fs.dev),
      truncate: (size) => {
        fs.writable();
        ext4.truncate(ino, size);
      },
      sync: () => {
        if (!fs.readOnly) ext4.flush();
      },
      setTimes: (a, m) => this.setTimes(a, m),
      close: () => {},
    };
  }

  override readlink(): string {
    if (this.filetype !== FileType.SYMBOLIC_LINK) return super.readlink();
    return this.ext4.readlink(this.ino);
  }

  override lookup(name: string): Inode | null {
    if (this.filetype !== FileType.DIRECTORY) return super.lookup(name);
    const known = this.fs.names.get(this.ino, name);
    if (known !== undefined) return known && new Ext4Inode(this.fs, known.ino, known.filetype);
    let ino: number;
    try {
      ino = this.ext4.lookupIn(this.ino, name);
    } catch (e) {
      if (e instanceof WasiError && e.errno === Errno.NOENT) {
        this.fs.names.set(this.ino, name, null);
        return null;
      }
      throw e;
    }
    const inode = this.fs.inode(ino);
    this.fs.names.set(this.ino, name, { ino, filetype: inode.filetype });
    return inode;
  }

  override createFile(name: string, exclusive: boolean): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.createFile(name, exclusive);
    const existing = this.lookup(name);
    if (existing) {
      if (exclusive) throw new WasiError(Errno.EXIST);
      return existing;
    }
    this.fs.writable();
    return this.created(name, FileType.REGULAR_FILE, () => this.ext4.create(this.ino, name, { mode: 0o644 }));
  }

  override mkdir(name: string): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.mkdir(name);
    this.fs.writable();
    return this.created(name, FileType.DIRECTORY, () => this.ext4.mkdir(this.ino, name, { mode: 0o755 }));
  }

  override symlink(name: string, target: string): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.symlink(name, target);
    this.fs.writable();
    return this.created(name, FileType.SYMBOLIC_LINK, () => this.ext4.symlink(this.ino, name, target));
  }

  override unlink(name: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.unlink(name);
    this.fs.writable();
    this.fs.names.forget(this.ino, name);
    this.ext4.unlink(this.ino, name);
    this.fs.names.set(this.ino, name, null);
  }

  override rmdir(name: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.rmdir(name);
    this.fs.writable();
    this.forgetRemoved(this, name);
    this.ext4.rmdir(this.ino, name);
    this.fs.names.set(this.ino, name, null);
  }

  override link(name: string, target: Inode): void {
    if (this.filetype !== FileType.DIRECTORY) return super.link(name, target);
    if (!(target instanceof Ext4Inode) || target.fs !== this.fs) throw new WasiError(Errno.XDEV);
    this.fs.writable();
    this.fs.names.forget(this.ino, name);
    this.ext4.link(target.ino, this.ino, name);
    this.fs.names.set(this.ino, name, { ino: target.ino, filetype: target.filetype });
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.rename(name, newDir, newName);
    if (!(newDir instanceof Ext4Inode) || newDir.fs !== this.fs) throw new WasiError(Errno.XDEV);
    this.fs.writable();
    this.forgetRemoved(newDir, newName);
    this.fs.names.forget(this.ino, name);
    this.ext4.rename(this.ino, name, newDir.ino, newName);
  }

  /** Creates `name` with `make` (which returns its inode) and records it once it exists. */
  private created(name: string, filetype: number, make: () => number): Inode {
    this.fs.names.forget(this.ino, name);
    const ino = make();
    this.fs.names.set(this.ino, name, { ino, filetype });
    return new Ext4Inode(this.fs, ino, filetype);
  }

  /**
   * Before `name` in `dir` may be removed or replaced: forgets the name and, if it is a directory,
   * what is cached inside it (only absent names by then, since a directory must be empty to go, but
   * its inode number may come back as another directory).
   */
  private forgetRemoved(dir: Ext4Inode, name: string): void {
    const existing = dir.lookup(name);
    if (existing instanceof Ext4Inode && existing.filetype === FileType.DIRECTORY) {
      this.fs.names.forgetDirectory(existing.ino);
    }
    this.fs.names.forget(dir.ino, name);
  }

  /**
   * Entries ordered by inode number, cookie = the next inode number to list: removing entries
   * while listing (as `rm -r` does) then skips and repeats nothing.
   */
  override readdir(cookie: number, max: number): DirPage {
    if (this.filetype !== FileType.DIRECTORY) return super.readdir(cookie, max);
    const entries = this.ext4
      .readdir(this.ino)
      .filter((e) => e.name !== '.' && e.name !== '..' && e.ino >= cookie)
      .sort((a, b) => a.ino - b.ino || (a.name < b.name ? -1 : 1));
    const page = entries.slice(0, max);
    // Never split names sharing one inode (hard links) across pages: they share a cookie.
    while (
      page.length < entries.length &&
      page.length > 0 &&
      entries[page.length].ino === page[page.length - 1].ino
    ) {
      page.push(entries[page.length]);
    }
    return {
      entries: page.map((e) => ({
        name: e.name,
        filetype: FILETYPES[e.type],
        ino: BigInt(e.ino),
        next: e.ino + 1,
      })),
      end: page.length === entries.length,
    };
  }
}
