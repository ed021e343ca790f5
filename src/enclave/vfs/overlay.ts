/**
 * overlay: a writable file system made of a read-only `lower` (the root image) and a writable
 * `upper` (a tmpfs), with Linux overlayfs semantics where programs notice them:
 *
 * - a name resolves in upper first, then in lower; an upper directory over a lower directory is
 *   merged (both listed) unless it is opaque;
 * - the first change to a lower entry (open for writing, truncate, times, link, rename) copies it
 *   up: its parent directories are made in upper, then the whole file, link or directory, with
 *   its timestamps;
 * - removing a lower entry leaves a whiteout; a directory made where one was removed is opaque;
 * - a directory that has a lower part cannot be renamed (XDEV, as without `redirect_dir`), and
 *   copy-up breaks hard links between lower files (as without `index`).
 *
 * Whiteouts and opaque marks are kept here, in enclave memory, keyed by path: only directories
 * with a lower part need them, and those never move, so their paths are stable. Nothing ever
 * writes to `lower`.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase } from './base.ts';
import type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

/** Bytes copied per step when a file is copied up. */
const COPY_CHUNK = 1 << 16;
/** Readdir cookies of both layers share one number (see `readdir`); each must stay below this. */
const MAX_LAYER_COOKIE = 2 ** 52;

class OverlayFs implements FileSystem {
  readonly type = 'overlay';
  readonly readOnly = false;
  /** Paths whose lower entry is hidden; such a path never has an upper entry. */
  readonly whiteouts = new Set<string>();
  /** Paths of upper directories made over a removed lower one: their lower part is hidden. */
  readonly opaque = new Set<string>();
  /**
   * The one node of each path that has a lower part, so that a copy-up through one lookup is
   * seen through every other (an open directory, a file open for reading).
   */
  readonly nodes = new Map<string, OverlayNode>();
  private readonly rootNode: OverlayNode;

  constructor(
    readonly lower: FileSystem,
    readonly upper: FileSystem,
  ) {
    this.rootNode = new OverlayNode(this, '', null, upper.root(), lower.root());
  }

  root(): Inode {
    return this.rootNode;
  }

  /** Drops the nodes of `path` (and, for a directory, below it), which no longer name them. */
  forget(path: string, subtree: boolean): void {
    const node = this.nodes.get(path);
    if (node) node.removed = true;
    this.nodes.delete(path);
    if (!subtree) return;
    const prefix = `${path}/`;
    for (const [p, below] of this.nodes) {
      if (!p.startsWith(prefix)) continue;
      below.removed = true;
      this.nodes.delete(p);
    }
    for (const set of [this.whiteouts, this.opaque]) {
      for (const p of set) if (p.startsWith(prefix)) set.delete(p);
    }
  }
}

function childPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/**
 * An entry of the overlay: its upper inode, its lower inode, or both (a copied-up file, a merged
 * directory). A node without a lower part is a plain upper entry and is made afresh per lookup.
 */
class OverlayNode extends InodeBase {
  readonly filetype: number;
  /** Its path is gone (unlinked, removed, renamed over); open descriptors may still use it. */
  removed = false;

  constructor(
    readonly fs: OverlayFs,
    readonly path: string,
    private readonly parent: OverlayNode | null,
    public upper: Inode | null,
    readonly lower: Inode | null,
  ) {
    super();
    this.filetype = (upper ?? lower)!.filetype;
  }

  private get name(): string {
    return this.path.slice(this.path.lastIndexOf('/') + 1);
  }

  /** The layer that answers for this entry. */
  private get top(): Inode {
    return (this.upper ?? this.lower)!;
  }

  stat(): Stat {
    return this.top.stat();
  }

  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.copyUp(true).setTimes(atimNs, mtimNs);
  }

  override open(options: OpenOptions): FileHandle {
    if (this.filetype !== FileType.REGULAR_FILE) return this.top.open(options);
    if (options.write || options.truncate) return this.copyUp(!options.truncate).open(options);
    if (this.upper) return this.upper.open(options);
    return new LowerHandle(this, this.lower!.open(options));
  }

  override readlink(): string {
    return this.top.readlink();
  }

  /**
   * The upper inode, copying this entry up first if it has none; `withData` false skips the
   * contents of a file about to be truncated.
   */
  copyUp(withData: boolean): Inode {
    if (this.upper) return this.upper;
    if (this.removed) throw new WasiError(Errno.NOENT);
    const lower = this.lower!;
    const dir = this.parent!.copyUp(true);
    // Copy-up is invisible: the parent keeps its times, the copy gets the original's.
    const parentTimes = dir.stat();
    const upper = this.copy(lower, dir, withData);
    const { atimNs, mtimNs } = lower.stat();
    upper.setTimes(atimNs, mtimNs);
    dir.setTimes(parentTimes.atimNs, parentTimes.mtimNs);
    this.upper = upper;
    return upper;
  }

  /** Makes the upper copy of `lower` in `dir`. */
  private copy(lower: Inode, dir: Inode, withData: boolean): Inode {
    switch (this.filetype) {
      case FileType.DIRECTORY:
        return dir.mkdir(this.name);
      case FileType.SYMBOLIC_LINK:
        return dir.symlink(this.name, lower.readlink());
      case FileType.REGULAR_FILE:
        return copyFile(lower, dir.createFile(this.name, true), withData);
      default:
        throw new WasiError(Errno.NOTSUP);
    }
  }

  // Directory operations. `lower` is null for a directory without a lower part (made in upper,
  // or opaque): then the sets of whiteouts and opaque marks are never consulted below it.

  override lookup(name: string): Inode | null {
    if (this.filetype !== FileType.DIRECTORY) return super.lookup(name);
    if (this.removed) return null;
    const path = childPath(this.path, name);
    if (this.lower === null) {
      const upper = this.upper!.lookup(name);
      return upper && new OverlayNode(this.fs, path, this, upper, null);
    }
    const known = this.fs.nodes.get(path);
    if (known) return known;
    const upper = this.upper?.lookup(name) ?? null;
    let lower: Inode | null = null;
    if (upper === null) {
      if (this.fs.whiteouts.has(path)) return null;
      lower = this.lower.lookup(name);
      if (lower === null) return null;
    } else if (upper.filetype === FileType.DIRECTORY && !this.fs.opaque.has(path)) {
      const below = this.lower.lookup(name);
      if (below?.filetype === FileType.DIRECTORY) lower = below;
    }
    const node = new OverlayNode(this.fs, path, this, upper, lower);
    if (lower) this.fs.nodes.set(path, node);
    return node;
  }

  override createFile(name: string, exclusive: boolean): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.createFile(name, exclusive);
    const existing = this.lookup(name);
    if (existing) {
      if (exclusive) throw new WasiError(Errno.EXIST);
      return existing;
    }
    return this.created(name, this.copyUp(true).createFile(name, true));
  }

  override mkdir(name: string): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.mkdir(name);
    if (this.lookup(name)) throw new WasiError(Errno.EXIST);
    const path = childPath(this.path, name);
    const wasWhiteout = this.fs.whiteouts.has(path);
    const node = this.created(name, this.copyUp(true).mkdir(name));
    // A directory made where a lower one was removed must not show the old entries.
    if (wasWhiteout) this.fs.opaque.add(path);
    return node;
  }

  override symlink(name: string, target: string): Inode {
    if (this.filetype !== FileType.DIRECTORY) return super.symlink(name, target);
    if (this.lookup(name)) throw new WasiError(Errno.EXIST);
    return this.created(name, this.copyUp(true).symlink(name, target));
  }

  override link(name: string, target: Inode): void {
    if (this.filetype !== FileType.DIRECTORY) return super.link(name, target);
    if (!(target instanceof OverlayNode) || target.fs !== this.fs) throw new WasiError(Errno.XDEV);
    if (target.filetype === FileType.DIRECTORY) throw new WasiError(Errno.PERM);
    if (this.lookup(name)) throw new WasiError(Errno.EXIST);
    const source = target.copyUp(true);
    this.copyUp(true).link(name, source);
    this.created(name, source);
  }

  override unlink(name: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.unlink(name);
    const node = this.existing(name);
    if (node.filetype === FileType.DIRECTORY) throw new WasiError(Errno.ISDIR);
    if (node.upper) this.upper!.unlink(name);
    this.afterRemoval(name, false);
  }

  override rmdir(name: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.rmdir(name);
    const node = this.existing(name);
    if (node.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
    if (!node.isEmpty()) throw new WasiError(Errno.NOTEMPTY);
    // Whiteouts live here, not in upper, so an empty-looking upper directory is empty.
    if (node.upper) this.upper!.rmdir(name);
    this.afterRemoval(name, true);
  }

  override rename(name: string, newDir: Inode, newName: string): void {
    if (this.filetype !== FileType.DIRECTORY) return super.rename(name, newDir, newName);
    if (!(newDir instanceof OverlayNode) || newDir.fs !== this.fs) throw new WasiError(Errno.XDEV);
    if (newDir.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
    const node = this.existing(name);
    const replaced = newDir.lookup(newName) as OverlayNode | null;
    if (newDir.path === this.path && newName === name) return;
    const isDir = node.filetype === FileType.DIRECTORY;
    if (replaced) {
      if (sameFile(node, replaced)) return;
      if (isDir && replaced.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
      if (!isDir && replaced.filetype === FileType.DIRECTORY) throw new WasiError(Errno.ISDIR);
    }
    // Moving a directory with a lower part would need redirects; Linux without them says XDEV.
    if (isDir && node.lower) throw new WasiError(Errno.XDEV);
    if (isDir && replaced && !replaced.isEmpty()) throw new WasiError(Errno.NOTEMPTY);
    node.copyUp(true);
    this.upper!.rename(name, newDir.copyUp(true), newName);
    this.afterRemoval(name, isDir);
    const to = childPath(newDir.path, newName);
    this.fs.forget(to, replaced?.filetype === FileType.DIRECTORY);
    this.fs.whiteouts.delete(to);
    if (isDir) {
      // The moved directory hides whatever lower directory is at its new path.
      if (newDir.lower?.lookup(newName)?.filetype === FileType.DIRECTORY) this.fs.opaque.add(to);
      else this.fs.opaque.delete(to);
    }
  }

  /**
   * Directories with a lower part list the lower entries first, then the upper entries that lower
   * lacks; an entry in both is listed once, in the lower pass, as upper has it. Copy-up during a
   * listing therefore moves nothing. Cookie 2c is lower cookie c, 2c + 1 upper cookie c.
   */
  override readdir(cookie: number, max: number): DirPage {
    if (this.filetype !== FileType.DIRECTORY) return super.readdir(cookie, max);
    const entries: DirEntry[] = [];
    if (this.removed) return { entries, end: true };
    const lower = this.lower;
    if (lower && cookie % 2 === 0) {
      let at = cookie / 2;
      while (entries.length < max) {
        const page = lower.readdir(at, max - entries.length);
        for (const e of page.entries) {
          at = e.next;
          const path = childPath(this.path, e.name);
          if (this.fs.whiteouts.has(path)) continue;
          const upper = this.upper?.lookup(e.name) ?? null;
          const shown = upper ? { ...e, filetype: upper.filetype, ino: upper.stat().ino } : e;
          entries.push({ ...shown, next: layerCookie(e.next) * 2 });
        }
        if (page.end || page.entries.length === 0) break;
      }
      if (entries.length === max) return { entries, end: false };
      cookie = 1;
    }
    const upper = this.upper;
    if (upper === null) return { entries, end: true };
    let at = lower ? (cookie - 1) / 2 : cookie;
    while (entries.length < max) {
      const page = upper.readdir(at, max - entries.length);
      for (const e of page.entries) {
        at = e.next;
        if (lower?.lookup(e.name)) continue;
        entries.push({ ...e, next: lower ? layerCookie(e.next) * 2 + 1 : e.next });
      }
      if (page.end || page.entries.length === 0) return { entries, end: true };
    }
    return { entries, end: false };
  }

  /** Whether a directory lists no entries (whiteouts aside). */
  isEmpty(): boolean {
    return this.readdir(0, 1).entries.length === 0;
  }

  /** The entry `name`, which must exist. */
  private existing(name: string): OverlayNode {
    const node = this.lookup(name);
    if (!node) throw new WasiError(Errno.NOENT);
    return node as OverlayNode;
  }

  /** Records a new upper entry `name` (over a whiteout, maybe) and returns its node. */
  private created(name: string, upper: Inode): OverlayNode {
    const path = childPath(this.path, name);
    this.fs.whiteouts.delete(path);
    return new OverlayNode(this.fs, path, this, upper, null);
  }

  /** After `name` left this directory: hides its lower entry, if any, behind a whiteout. */
  private afterRemoval(name: string, isDir: boolean): void {
    const path = childPath(this.path, name);
    this.fs.forget(path, isDir);
    this.fs.opaque.delete(path);
    if (this.lower?.lookup(name)) this.fs.whiteouts.add(path);
  }
}

/** Whether two entries are one file (hard links to it, or one name). */
function sameFile(a: OverlayNode, b: OverlayNode): boolean {
  if (a === b) return true;
  if (!a.upper || !b.upper) return false;
  const [x, y] = [a.upper.stat(), b.upper.stat()];
  return x.dev === y.dev && x.ino === y.ino;
}

function layerCookie(cookie: number): number {
  if (cookie >= MAX_LAYER_COOKIE) throw new WasiError(Errno.OVERFLOW);
  return cookie;
}

/** Gives `to` (a new, empty upper file) the contents of `from` unless `withData` is false. */
function copyFile(from: Inode, to: Inode, withData: boolean): Inode {
  if (!withData) return to;
  const src = from.open({ write: false, truncate: false });
  const dst = to.open({ write: true, truncate: false });
  try {
    const chunk = new Uint8Array(COPY_CHUNK);
    for (let offset = 0; ;) {
      const n = src.read(offset, chunk);
      if (n === 0) break;
      dst.write(offset, chunk.subarray(0, n));
      offset += n;
    }
  } finally {
    src.close();
    dst.close();
  }
  return to;
}

/**
 * A lower file opened for reading. It follows the file to upper once it has been copied up (as
 * Linux does since 4.19), and copies it up itself when asked to change it.
 */
class LowerHandle implements FileHandle {
  private onUpper = false;

  constructor(
    private readonly node: OverlayNode,
    private real: FileHandle,
  ) {}

  /** The handle to use now: upper's once the file has been copied up (or must be, `change`). */
  private current(change = false): FileHandle {
    if (!this.onUpper && (change || this.node.upper)) {
      const upper = this.node.copyUp(true).open({ write: true, truncate: false });
      this.real.close();
      this.real = upper;
      this.onUpper = true;
    }
    return this.real;
  }

  read(offset: number, dst: Uint8Array): number {
    return this.current().read(offset, dst);
  }
  write(offset: number, src: Uint8Array): number {
    return this.current(true).write(offset, src);
  }
  size(): number {
    return this.current().size();
  }
  stat(): Stat {
    return this.current().stat();
  }
  truncate(size: number): void {
    this.current(true).truncate(size);
  }
  sync(dataOnly: boolean): void {
    this.current().sync(dataOnly);
  }
  setTimes(atimNs: bigint | null, mtimNs: bigint | null): void {
    this.current(true).setTimes(atimNs, mtimNs);
  }
  close(): void {
    this.real.close();
  }
}

/**
 * A writable overlay of `upper` (writable, normally an empty tmpfs that only this overlay uses)
 * over `lower` (never written, normally a read-only root image).
 */
export function createOverlayFs(lower: FileSystem, upper: FileSystem): FileSystem {
  return new OverlayFs(lower, upper);
}
