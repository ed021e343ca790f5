import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  constants,
  copyFileSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { ImageError } from './errors.ts';
import { normalizeEntryPath } from './paths.ts';
import type { TarEntryType } from './tar.ts';

/** One thing to put into the staged tree. */
export interface StageEntry {
  /** Path inside the image, as found in the source (normalized by the stager). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** File contents, or… */
  data?: Uint8Array;
  /** …a host file to copy them from. */
  sourcePath?: string;
  /** Symlink target, or the image path a hard link points to. */
  linkName: string;
}

/** What the staged tree holds: counts for sizing the file system, and a digest of everything. */
export interface StagedTree {
  inodes: number;
  /** 4 KiB blocks the contents need (file data, directories, long symlinks). */
  blocks: number;
  /** SHA-256 of the canonical listing and contents: the seed of every reproducible identifier. */
  digest: Uint8Array;
  /** Devices and FIFOs that were skipped (mke2fs -d cannot be fed them without root mknod). */
  skipped: string[];
  /**
   * Owner and mode of every path ('' is the root), to be set in the file system after mke2fs: the
   * staged copies keep the builder's owner and readable modes, so no root privilege is needed.
   */
  attributes: FileAttributes[];
}

/** Owner and permission bits (with the file type bits, `S_IFDIR | 0755`…) of one path. */
export interface FileAttributes {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

const S_IFMT = { dir: 0o040000, file: 0o100000, symlink: 0o120000 };

interface Meta {
  mode: number;
  uid: number;
  gid: number;
}

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Builds a file tree in a private staging directory from untrusted entries (tar members, OCI layers):
 * nothing is ever written through a symlink or outside the directory, and whiteouts delete only
 * inside it. Owners, modes and times are applied by {@link Stager.finish}, which normalizes them.
 */
export class Stager {
  private readonly meta = new Map<string, Meta>();
  private readonly skipped: string[] = [];

  constructor(readonly root: string) {}

  /**
   * The host path of `rel`'s parent directory, checking every component: a symlink or a non-directory
   * on the way is refused. Missing parents are created (mode 0755, root) when `mode` is 'create';
   * with 'lookup' null is returned for them, and with 'whiteout' also for a symlink or a file on the
   * way (nothing below it to hide, and nothing is ever deleted through a link).
   */
  private parentOf(rel: string, mode: 'create' | 'lookup' | 'whiteout'): string | null {
    const parts = rel.split('/');
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const sub = parts.slice(0, i + 1).join('/');
      dir = join(dir, parts[i]);
      const st = lstatOrNull(dir);
      if (st === null || (mode === 'whiteout' && !st.isDirectory())) {
        if (mode !== 'create') return null;
        mkdirSync(dir, 0o755);
        this.meta.set(sub, { mode: 0o755, uid: 0, gid: 0 });
      } else if (st.isSymbolicLink()) {
        throw new ImageError(`${rel}: refusing to write through the symbolic link ${sub}`);
      } else if (!st.isDirectory()) {
        throw new ImageError(`${rel}: ${sub} is not a directory`);
      }
    }
    return dir;
  }

  private forget(rel: string): void {
    for (const key of [...this.meta.keys()]) {
      if (key === rel || key.startsWith(`${rel}/`)) this.meta.delete(key);
    }
  }

  /** Adds (or replaces) one entry. */
  add(entry: StageEntry): void {
    const rel = normalizeEntryPath(entry.path);
    const meta = { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid };
    if (rel === '') {
      if (entry.type !== 'dir') throw new ImageError(`${entry.path}: the root must be a directory`);
      this.meta.set('', meta);
      return;
    }
    if (rel === 'lost+found' && entry.type !== 'dir') {
      throw new ImageError('/lost+found must be a directory (ext4 keeps its own there)');
    }
    if (entry.type === 'other') {
      this.skipped.push(rel);
      return;
    }
    const path = join(this.parentOf(rel, 'create') as string, rel.slice(rel.lastIndexOf('/') + 1));
    const existing = lstatOrNull(path);
    if (entry.type === 'dir' && existing?.isDirectory()) {
      this.meta.set(rel, meta);
      return;
    }
    if (existing) {
      rmSync(path, { recursive: true, force: true });
      this.forget(rel);
    }
    switch (entry.type) {
      case 'dir':
        mkdirSync(path, 0o755);
        break;
      case 'file':
        if (entry.sourcePath !== undefined) copyFileSync(entry.sourcePath, path, constants.COPYFILE_EXCL);
        else writeFileSync(path, entry.data ?? new Uint8Array(0), { flag: 'wx', mode: 0o644 });
        break;
      case 'symlink':
        if (entry.linkName === '' || entry.linkName.includes('\0')) {
          throw new ImageError(`${rel}: empty or malformed symbolic link target`);
        }
        symlinkSync(entry.linkName, path);
        break;
      case 'hardlink': {
        const target = normalizeEntryPath(entry.linkName, `hard link ${rel} ->`);
        const targetDir = target === '' ? null : this.parentOf(target, 'lookup');
        const targetPath = targetDir && join(targetDir, target.slice(target.lastIndexOf('/') + 1));
        const st = targetPath ? lstatOrNull(targetPath) : null;
        if (!targetPath || !st || st.isDirectory()) {
          throw new ImageError(
            `${rel}: hard link to ${JSON.stringify(entry.linkName)}, which is not a file here`,
          );
        }
        linkSync(targetPath, path);
        const shared = this.meta.get(target);
        if (shared) this.meta.set(rel, shared);
        return;
      }
    }
    this.meta.set(rel, meta);
  }

  /** Applies an OCI whiteout entry (`DIR/.wh.NAME` deletes NAME, `DIR/.wh..wh..opq` empties DIR). */
  whiteout(path: string): void {
    const rel = normalizeEntryPath(path);
    const slash = rel.lastIndexOf('/');
    const dirRel = slash < 0 ? '' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    const parent = this.parentOf(rel, 'whiteout');
    if (parent === null) return;
    if (name === '.wh..wh..opq') {
      for (const child of readdirSync(parent)) {
        rmSync(join(parent, child), { recursive: true, force: true });
        this.forget(dirRel === '' ? child : `${dirRel}/${child}`);
      }
      return;
    }
    const victim = name.slice('.wh.'.length);
    if (victim === '' || victim === '.' || victim === '..')
      throw new ImageError(`${path}: malformed whiteout`);
    rmSync(join(parent, victim), { recursive: true, force: true });
    this.forget(dirRel === '' ? victim : `${dirRel}/${victim}`);
  }

  /**
   * Normalizes the tree for a reproducible image: every timestamp set to `epoch`; owners and modes
   * from the entries (root:root 0755 for implied directories) are returned to be set by the builder.
   * Returns the tree's size and digest too.
   */
  finish(epoch: number): StagedTree {
    const hash = createHash('sha256');
    const inodesSeen = new Map<number, string>();
    const attributes: FileAttributes[] = [];
    let inodes = 1;
    let blocks = 1;
    const visit = (rel: string, path: string): void => {
      const st = lstatSync(path);
      const meta = this.meta.get(rel) ?? {
        mode: st.isDirectory() ? 0o755 : st.mode & 0o7777,
        uid: 0,
        gid: 0,
      };
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      attributes.push({
        path: rel,
        mode: S_IFMT[type] | (type === 'symlink' ? 0o777 : meta.mode),
        uid: meta.uid,
        gid: meta.gid,
      });
      const record = (kind: string, extra: string | Uint8Array) => {
        hash.update(`${kind} ${meta.mode.toString(8)} ${meta.uid} ${meta.gid} ${rel.length}:${rel}\0`);
        hash.update(typeof extra === 'string' ? Buffer.from(extra) : extra);
      };
      if (st.isDirectory()) {
        const children = readdirSync(path).sort();
        record('dir', `${children.length}\0`);
        blocks += Math.ceil((children.reduce((n, c) => n + c.length + 12, 24) * 1.5) / 4096);
        for (const child of children) visit(rel === '' ? child : `${rel}/${child}`, join(path, child));
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(path);
        record('symlink', `${target.length}:${target}\0`);
        if (Buffer.byteLength(target) >= 60) blocks++;
      } else {
        const first = st.nlink > 1 ? inodesSeen.get(st.ino) : undefined;
        if (first !== undefined) {
          record('link', `${first.length}:${first}\0`);
          lutimesSync(path, epoch, epoch);
          return;
        }
        if (st.nlink > 1) inodesSeen.set(st.ino, rel);
        record('file', createHash('sha256').update(readFileSync(path)).digest());
        // An inode holds four extents of up to 128 MiB; beyond that an extent tree block is needed.
        blocks += Math.ceil(st.size / 4096) + Math.floor(st.size / 2 ** 29);
      }
      inodes++;
      lutimesSync(path, epoch, epoch);
    };
    visit('', this.root);
    hash.update(`epoch ${epoch}`);
    return { inodes, blocks, digest: hash.digest(), skipped: [...this.skipped], attributes };
  }
}
