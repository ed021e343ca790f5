/**
 * The mount table: one tree made of a root file system and others mounted at absolute paths in
 * it, e.g. an ext4 root with tmpfs on /tmp and the attestation pseudo-files on /dev/attestation.
 * Mount points need not exist in the file system below: missing directories on the way to one
 * appear as empty read-only directories, so a read-only root needs no changes. Open files are the
 * mounted file systems' own handles; only directory walks pass through this layer.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase, isValidName } from './base.ts';
import type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

/** One entry of the mount table. */
export interface Mount {
  /** Absolute, normalised: '/dev/attestation'. */
  path: string;
  fs: FileSystem;
}

let nextDev = 1n << 56n;

class MountTree implements FileSystem {
  readonly type = 'mounts';
  readonly readOnly: boolean;
  readonly dev = nextDev++;
  /** Mounted file systems by path below the root ('dev/attestation'). */
  readonly mounts = new Map<string, FileSystem>();
  /** Names needed under each directory path to reach a mount point ('' -> {'dev'}). */
  readonly mountNames = new Map<string, Set<string>>();

  constructor(
    private readonly rootFs: FileSystem,
    mounts: Mount[],
  ) {
    this.readOnly = rootFs.readOnly;
    for (const { path, fs } of mounts) {
      const names = path.split('/').slice(1);
      if (!path.startsWith('/') || !names.every(isValidName)) {
        throw new Error(`mount: invalid path ${JSON.stringify(path)}`);
      }
      const key = names.join('/');
      if (this.mounts.has(key)) throw new Error(`mount: ${path} is mounted twice`);
      this.mounts.set(key, fs);
      names.forEach((name, i) => {
        const dir = names.slice(0, i).join('/');
        if (!this.mountNames.has(dir)) this.mountNames.set(dir, new Set());
        this.mountNames.get(dir)!.add(name);
      });
    }
  }

  root(): Inode {
    return new MountInode(this, '', this.rootFs.root());
  }
}

/** A directory entry seen through the mount table: the underlying inode, or none for a directory that exists only to reach a mount point. */
class MountInode extends InodeBase {
  readonly filetype: number;

  constructor(
    readonly fs: MountTree,
    private readonly path: string,
    readonly inner: Inode | null,
  ) {
    super();
    this.filetype = inner?.filetype ?? FileType.DIRECTORY;
  }

  /** The entries are the inner directory's (a directory made up to reach a mount point has none to keep). */
  override syncEntries(): void {
    this.inner?.syncEntries();
  }

  stat(): Stat {
    if (this.inner) return this.inner.stat();
    const ino = BigInt(this.path.length + 1);
    return {
      dev: this.fs.dev,
      ino,
      filetype: FileType.DIRECTORY,
      nlink: 2n,
      size: 0n,
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    };
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.underlying().setTimes(atimNs, mtimNs);
  }

  override open(options: OpenOptions): FileHandle {
    return this.underlying().open(options);
  }

  override readlink(): string {
    return this.underlying().readlink();
  }

  override lookup(name: string): Inode | null {
    const path = this.child(name);
    const mounted = this.fs.mounts.get(path);
    if (mounted) return new MountInode(this.fs, path, mounted.root());
    const inner = this.inner?.lookup(name) ?? null;
    if (inner) return new MountInode(this.fs, path, inner);
    return this.isOnMountPath(name) ? new MountInode(this.fs, path, null) : null;
  }

  override createFile(name: string, exclusive: boolean): Inode {
    if (this.isOnMountPath(name)) throw new WasiError(exclusive ? Errno.EXIST : Errno.ISDIR);
    return new MountInode(this.fs, this.child(name), this.underlying().createFile(name, exclusive));
  }

  override mkdir(name: string): Inode {
    if (this.isOnMountPath(name)) throw new WasiError(Errno.EXIST);
    return new MountInode(this.fs, this.child(name), this.underlying().mkdir(name));
  }

  override symlink(name: string, target: string): Inode {
    if (this.isOnMountPath(name)) throw new WasiError(Errno.EXIST);
    return new MountInode(this.fs, this.child(name), this.underlying().symlink(name, target));
  }

  override unlink(name: string): void {
    if (this.isOnMountPath(name)) throw new WasiError(Errno.ISDIR);
    this.underlying().unlink(name);
  }

  override rmdir(name: string): void {
    if (this.isOnMountPath(name)) throw new WasiError(Errno.BUSY);
    this.underlying().rmdir(name);
  }

  override link(name: string, target: Inode): void {
    if (this.isOnMountPath(name)) throw new WasiError(Errno.EXIST);
    this.underlying().link(name, unwrap(target));
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    const to = newDir instanceof MountInode ? newDir : null;
    if (this.isOnMountPath(name) || to?.isOnMountPath(newName)) throw new WasiError(Errno.BUSY);
    this.underlying().rename(name, unwrap(newDir), newName);
  }

  /** Mount points come first (cookies 0 .. k - 1), then the underlying entries they do not hide (k + cookie). */
  override readdir(cookie: number, max: number): DirPage {
    const names = this.fs.mountNames.get(this.path);
    if (!names) return this.underlying().readdir(cookie, max);
    const mountPoints = [...names];
    const out: DirEntry[] = [];
    for (let c = cookie; c < mountPoints.length && out.length < max; c++) {
      const ino = this.lookup(mountPoints[c])?.stat().ino ?? 0n;
      out.push({ name: mountPoints[c], filetype: FileType.DIRECTORY, ino, next: c + 1 });
    }
    if (!this.inner) return { entries: out, end: cookie + out.length >= mountPoints.length };
    let at = Math.max(0, cookie - mountPoints.length);
    while (out.length < max) {
      const page = this.inner.readdir(at, max - out.length);
      for (const e of page.entries) {
        if (!names.has(e.name)) out.push({ ...e, next: e.next + mountPoints.length });
        at = e.next;
      }
      if (page.end || page.entries.length === 0) return { entries: out, end: true };
    }
    return { entries: out, end: false };
  }

  private child(name: string): string {
    return this.path === '' ? name : `${this.path}/${name}`;
  }

  private isOnMountPath(name: string): boolean {
    return this.fs.mountNames.get(this.path)?.has(name) ?? false;
  }

  /** The inode below; a directory that exists only to reach a mount point is read-only. */
  private underlying(): Inode {
    if (this.inner) return this.inner;
    throw new WasiError(Errno.ROFS);
  }
}

function unwrap(inode: Inode): Inode {
  if (!(inode instanceof MountInode)) return inode;
  if (inode.inner === null) throw new WasiError(Errno.XDEV);
  return inode.inner;
}

/** Builds the tree of `root` with each of `mounts` on top. */
export function createMountTree(root: FileSystem, mounts: Mount[]): FileSystem {
  return new MountTree(root, mounts);
}
