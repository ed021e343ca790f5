/**
 * Path resolution below a directory descriptor. A path never leaves the directory it starts
 * from: an absolute path, a '..' above the start, or a symbolic link whose target is absolute
 * fails with NOTCAPABLE (as wasmtime's cap-std does). Symbolic links are expanded in place, at
 * most `MAX_SYMLINKS` per resolution (then LOOP).
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import { NAME_MAX } from '../vfs/index.ts';
import type { Inode } from '../vfs/index.ts';

/** Symbolic links followed in one resolution before LOOP (Linux MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
const PATH_MAX = 4096;

/** Where a path leads. */
export interface Resolved {
  /** The directory holding the last component (the start's chain of directories ends here). */
  parent: Inode;
  /** The directory above `parent` inside the start directory, or null at the start. */
  grandparent: Inode | null;
  /** The last component; null when the path names `parent` itself ('.', '..', 'a/..'). */
  name: string | null;
  /** The inode named, or null when the last component does not exist. */
  inode: Inode | null;
  /** The path ended in '/', so the result must be a directory. */
  trailingSlash: boolean;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Whether a symbolic link as the last component is followed: always (LOOKUPFLAGS_SYMLINK_FOLLOW),
 * only when the path ends in '/' (a plain POSIX lookup), or never (removal and rename act on the
 * link itself, so 'link/' is NOTDIR rather than the removal of what the link points to).
 */
export type FollowLast = 'always' | 'with-slash' | 'never';

/** Resolves `path` from directory `start`. Symbolic links in the middle are always followed. */
export function resolvePath(start: Inode, path: string, followLast: FollowLast): Resolved {
  if (path === '') throw new WasiError(Errno.NOENT);
  if (path.includes('\0')) throw new WasiError(Errno.INVAL);
  if (path.length > PATH_MAX) throw new WasiError(Errno.NAMETOOLONG);
  if (path.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE);

  const stack: Inode[] = [start];
  const pending = splitPath(path).reverse();
  let trailingSlash = path.endsWith('/') || path.endsWith('/.') || path === '.';
  let links = 0;

  while (pending.length > 0) {
    const component = pending.pop()!;
    const top = stack[stack.length - 1];
    const isLast = pending.length === 0;
    if (component === '..') {
      if (stack.length === 1) throw new WasiError(Errno.NOTCAPABLE);
      stack.pop();
      if (isLast) trailingSlash = true;
      continue;
    }
    if (component.length > NAME_MAX) throw new WasiError(Errno.NAMETOOLONG);
    if (top.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
    const inode = top.lookup(component);
    if (inode === null) {
      if (!isLast) throw new WasiError(Errno.NOENT);
      return {
        parent: top,
        grandparent: stack[stack.length - 2] ?? null,
        name: component,
        inode: null,
        trailingSlash,
      };
    }
    const follow = !isLast || followLast === 'always' || (followLast === 'with-slash' && trailingSlash);
    if (inode.filetype === FileType.SYMBOLIC_LINK && follow) {
      if (++links > MAX_SYMLINKS) throw new WasiError(Errno.LOOP);
      const target = inode.readlink();
      if (target.startsWith('/')) throw new WasiError(Errno.NOTCAPABLE);
      if (target === '') throw new WasiError(Errno.NOENT);
      if (isLast && target.endsWith('/')) trailingSlash = true;
      pending.push(...splitPath(target).reverse());
      if (isLast && pending.length === 0) return self(stack, trailingSlash);
      continue;
    }
    if (isLast) {
      if (trailingSlash && inode.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
      return {
        parent: top,
        grandparent: stack[stack.length - 2] ?? null,
        name: component,
        inode,
        trailingSlash,
      };
    }
    if (inode.filetype !== FileType.DIRECTORY) throw new WasiError(Errno.NOTDIR);
    stack.push(inode);
  }
  return self(stack, true);
}

function self(stack: Inode[], trailingSlash: boolean): Resolved {
  const top = stack[stack.length - 1];
  return { parent: top, grandparent: stack[stack.length - 2] ?? null, name: null, inode: top, trailingSlash };
}
