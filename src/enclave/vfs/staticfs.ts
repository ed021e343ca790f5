/**
 * A read-only pseudo file system built from a map of path -> bytes, for files such as
 * `/dev/attestation/mrenclave`. Keys may contain '/' to make subdirectories. Contents are copied
 * at creation, so later changes to the caller's arrays do not show.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase, isValidName } from './base.ts';
import type { DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

let nextDev = 1n << 48n;

class StaticFs implements FileSystem {
  readonly type = 'static';
  readonly readOnly = true;
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

class StaticFile extends StaticNode implements FileHandle {
  readonly filetype = FileType.REGULAR_FILE;

  constructor(
    fs: StaticFs,
    private readonly data: Uint8Array,
  ) {
    super(fs);
  }

  size(): number {
    return this.data.length;
  }

  override open(options: OpenOptions): FileHandle {
    if (options.write || options.truncate) throw new WasiError(Errno.ROFS);
    return this;
  }

  read(offset: number, dst: Uint8Array): number {
    if (offset >= this.data.length) return 0;
    const chunk = this.data.subarray(offset, offset + dst.length);
    dst.set(chunk);
    return chunk.length;
  }

  write(): number {
    throw new WasiError(Errno.ROFS);
  }

  truncate(): void {
    throw new WasiError(Errno.ROFS);
  }

  sync(): void {}

  close(): void {}
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

/** Creates a read-only file system holding `files` (path below the root -> contents). */
export function createStaticFs(files: Record<string, Uint8Array>): FileSystem {
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
    dir.entries.set(name, new StaticFile(fs, data.slice()));
  }
  return fs;
}
