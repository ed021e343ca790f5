/**
 * Lower layers for overlay tests: a tmpfs filled from a tree description, then frozen behind a
 * read-only view that fails (and counts) every attempt to change it.
 */
import { Errno, WasiError } from '../../../src/interface/errno.ts';
import { FileType } from '../../../src/interface/services.ts';
import { createTmpfs } from '../../../src/enclave/vfs/index.ts';
import type {
  DirPage,
  FileHandle,
  FileSystem,
  Inode,
  OpenOptions,
  Stat,
} from '../../../src/enclave/vfs/index.ts';

/** A directory's contents: a string is a file, `{ symlink }` a link, anything else a directory. */
export interface Tree {
  [name: string]: string | { symlink: string } | Tree;
}

/** Creates `tree` under `dir`. */
export function populate(dir: Inode, tree: Tree): void {
  for (const [name, value] of Object.entries(tree)) {
    if (typeof value === 'string') {
      const handle = dir.createFile(name, true).open({ write: true, truncate: false });
      handle.write(0, new TextEncoder().encode(value));
      handle.close();
    } else if (typeof value.symlink === 'string') {
      dir.symlink(name, value.symlink);
    } else {
      populate(dir.mkdir(name), value as Tree);
    }
  }
}

/** A read-only view of a file system, with a count of the changes it refused. */
export class FrozenFs implements FileSystem {
  readonly type = 'frozen';
  readonly readOnly = true;
  attempts = 0;

  constructor(private readonly inner: FileSystem) {}

  root(): Inode {
    return new FrozenInode(this, this.inner.root());
  }

  refuse(): never {
    this.attempts++;
    throw new WasiError(Errno.ROFS);
  }
}

class FrozenInode implements Inode {
  readonly filetype: number;

  constructor(
    readonly fs: FrozenFs,
    private readonly inner: Inode,
  ) {
    this.filetype = inner.filetype;
  }

  syncEntries(): void {
    this.inner.syncEntries();
  }

  stat(): Stat {
    return this.inner.stat();
  }
  setTimes(): void {
    this.fs.refuse();
  }
  open(options: OpenOptions): FileHandle {
    if (options.write || options.truncate) this.fs.refuse();
    const handle = this.inner.open(options);
    const refuse = (): never => this.fs.refuse();
    return {
      read: (offset, dst) => handle.read(offset, dst),
      write: refuse,
      size: () => handle.size(),
      stat: () => handle.stat(),
      truncate: refuse,
      sync: () => {},
      setTimes: refuse,
      close: () => handle.close(),
    };
  }
  readlink(): string {
    return this.inner.readlink();
  }
  lookup(name: string): Inode | null {
    const found = this.inner.lookup(name);
    return found && new FrozenInode(this.fs, found);
  }
  createFile(): Inode {
    return this.fs.refuse();
  }
  mkdir(): Inode {
    return this.fs.refuse();
  }
  symlink(): Inode {
    return this.fs.refuse();
  }
  unlink(): void {
    this.fs.refuse();
  }
  rmdir(): void {
    this.fs.refuse();
  }
  link(): void {
    this.fs.refuse();
  }
  rename(): void {
    this.fs.refuse();
  }
  readdir(cookie: number, max: number): DirPage {
    return this.inner.readdir(cookie, max);
  }
}

/** A frozen tmpfs holding `tree`. */
export function frozenTree(tree: Tree): FrozenFs {
  const fs = createTmpfs();
  populate(fs.root(), tree);
  return new FrozenFs(fs);
}

/** The inode at `path` ('a/b'), following no links; throws NOENT when missing. */
export function at(root: Inode, path: string): Inode {
  let inode = root;
  for (const name of path.split('/').filter((c) => c !== '')) {
    const next = inode.lookup(name);
    if (!next) throw new WasiError(Errno.NOENT);
    inode = next;
  }
  return inode;
}

/** The whole contents of the file at `path`, as text. */
export function readText(root: Inode, path: string): string {
  const handle = at(root, path).open({ write: false, truncate: false });
  try {
    const buf = new Uint8Array(handle.size());
    handle.read(0, buf);
    return new TextDecoder().decode(buf);
  } finally {
    handle.close();
  }
}

/** Writes `text` at `offset` of the file at `path`. */
export function writeText(root: Inode, path: string, offset: number, text: string): void {
  const handle = at(root, path).open({ write: true, truncate: false });
  handle.write(offset, new TextEncoder().encode(text));
  handle.close();
}

/** Every name a directory lists, read `pageSize` entries at a time, in listing order. */
export function names(dir: Inode, pageSize = 1000): string[] {
  const out: string[] = [];
  for (let cookie = 0; ;) {
    const page = dir.readdir(cookie, pageSize);
    for (const e of page.entries) {
      out.push(e.name);
      cookie = e.next;
    }
    if (page.end || page.entries.length === 0) return out;
  }
}

export const isDir = (inode: Inode): boolean => inode.filetype === FileType.DIRECTORY;
