/**
 * A pseudo file system built from a map of path -> contents, for files such as those of
 * `/dev/attestation`. Keys may contain '/' to make subdirectories. A file is fixed bytes (copied at
 * creation, so later changes to the caller's arrays do not show) or a `PseudoFile` computed when it
 * is opened, and writable when it has `set` (writes replace bytes within its fixed size).
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase, isValidName } from './base.ts';
import type { DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

let nextDev = 1n << 48n;

/** A file whose contents are computed on open (a snapshot per open) and may be written. */
export interface PseudoFile {
  get(): Uint8Array;
  /** Absent for read-only files. */
  set?(bytes: Uint8Array): void;
  /** The size writes must stay within (and stat reports before a snapshot). */
  size: number;
}

class StaticFs implements FileSystem {
  readonly type = 'static';
  readOnly = true;
  readonly dev = nextDev++;
  readonly rootDir: StaticDir;
  private nextIno = 1n;

  constructor() {
    this.rootDir = new StaticDir(this);
  }

  root(): Inode {
    return this.rootDir;
  }

  allocIno(): bigint {
    return this.nextIno++;
  }
}

abstract class StaticNode extends InodeBase {
  readonly ino: bigint;

  constructor(readonly fs: StaticFs) {
    super();
    this.ino = fs.allocIno();
  }

  abstract size(): number;

  stat(): Stat {
    const nlink = this.filetype === FileType.DIRECTORY ? 2n : 1n;
    const size = BigInt(this.size());
    return {
      dev: this.fs.dev,
      ino: this.ino,
      filetype: this.filetype,
      nlink,
      size,
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    };
  }

  setTimes(): void {
    throw new WasiError(Errno.ROFS);
  }
}

class StaticFile extends StaticNode {
  readonly filetype = FileType.REGULAR_FILE;

  constructor(
    fs: StaticFs,
    private readonly value: PseudoFile,
  ) {
    super(fs);
  }

  size(): number {
    return this.value.size;
  }

  override open(options: OpenOptions): FileHandle {
    const { value } = this;
    if ((options.write || options.truncate) && !value.set) throw new WasiError(Errno.ROFS);
    let snapshot: Uint8Array | undefined;
    const current = (): Uint8Array => (snapshot ??= value.get());
    return {
      read: (offset, dst) => {
        const chunk = current().subarray(offset, offset + dst.length);
        dst.set(chunk);
        return chunk.length;
      },
      write: (offset, src) => {
        if (!value.set) throw new WasiError(Errno.BADF);
        if (offset + src.length > value.size)
          throw new WasiError(Errno.INVAL, 'pseudo files have a fixed size');
        const next = value.get().slice();
        next.set(src, offset);
        value.set(next);
        snapshot = undefined;
        return src.length;
      },
      size: () => current().length,
      stat: () => ({ ...this.stat(), size: BigInt(current().length) }),
      truncate: (size) => {
        if (!value.set || size !== value.size) throw new WasiError(Errno.INVAL);
      },
      sync: () => {},
      setTimes: () => {
        throw new WasiError(Errno.ROFS);
      },
      close: () => {},
    };
  }
}

class StaticDir extends StaticNode {
  readonly filetype = FileType.DIRECTORY;
  readonly entries = new Map<string, StaticNode>();

  size(): number {
    return this.entries.size;
  }

  override lookup(name: string): Inode | null {
    return this.entries.get(name) ?? null;
  }

  override createFile(name: string, exclusive: boolean): Inode {
    const node = this.entries.get(name);
    if (node && !exclusive) return node;
    throw new WasiError(node ? Errno.EXIST : Errno.ROFS);
  }

  /** Cookies are indexes: the contents never change. */
  override readdir(cookie: number, max: number): DirPage {
    const all = [...this.entries].map(([name, n], i) => ({
      name,
      filetype: n.filetype,
      ino: n.ino,
      next: i + 1,
    }));
    return { entries: all.slice(cookie, cookie + max), end: cookie + max >= all.length };
  }
}

/** Creates a pseudo file system holding `files` (path below the root -> contents). */
export function createStaticFs(files: Record<string, Uint8Array | PseudoFile>): FileSystem {
  const fs = new StaticFs();
  for (const [path, data] of Object.entries(files)) {
    const names = path.split('/');
    if (!names.every(isValidName)) throw new Error(`static fs: invalid path ${JSON.stringify(path)}`);
    let dir = fs.rootDir;
    for (const name of names.slice(0, -1)) {
      let sub = dir.entries.get(name);
      if (!sub) dir.entries.set(name, (sub = new StaticDir(fs)));
      if (!(sub instanceof StaticDir)) throw new Error(`static fs: ${JSON.stringify(path)} crosses a file`);
      dir = sub;
    }
    const name = names[names.length - 1];
    if (dir.entries.has(name)) throw new Error(`static fs: duplicate path ${JSON.stringify(path)}`);
    let value: PseudoFile;
    if (data instanceof Uint8Array) {
      const bytes = data.slice();
      value = { get: () => bytes, size: bytes.length };
    } else value = data;
    if (value.set) fs.readOnly = false;
    dir.entries.set(name, new StaticFile(fs, value));
  }
  return fs;
}
