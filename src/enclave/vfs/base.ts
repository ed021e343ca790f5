/**
 * Shared pieces for file-system drivers: an inode base class whose operations fail with the errno
 * POSIX gives for the wrong kind of inode, and the component-name check.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';

/** Longest name of one directory entry, in UTF-8 bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;

/**
 * An inode whose every kind-specific operation fails: directory operations with NOTDIR on
 * non-directories, file operations with ISDIR on directories and INVAL otherwise. Drivers override
 * what their inode kind supports.
 */
export abstract class InodeBase implements Inode {
  abstract readonly fs: FileSystem;
  abstract readonly filetype: number;
  abstract stat(): Stat;
  abstract setTimes(atimNs: bigint | null, mtimNs: bigint | null): void;

  open(_options: OpenOptions): FileHandle {
    throw new WasiError(this.filetype === FileType.DIRECTORY ? Errno.ISDIR : Errno.INVAL);
  }
  syncEntries(): void {
    this.fs.sync?.();
  }
  readlink(): string {
    throw new WasiError(Errno.INVAL);
  }
  lookup(_name: string): Inode | null {
    throw this.notDir();
  }
  createFile(_name: string, _exclusive: boolean): Inode {
    throw this.notDir();
  }
  mkdir(_name: string): Inode {
    throw this.notDir();
  }
  symlink(_name: string, _target: string): Inode {
    throw this.notDir();
  }
  unlink(_name: string): void {
    throw this.notDir();
  }
  rmdir(_name: string): void {
    throw this.notDir();
  }
  link(_name: string, _target: Inode): void {
    throw this.notDir();
  }
  rename(_name: string, _newDir: Inode, _newName: string): void {
    throw this.notDir();
  }
  readdir(_cookie: number, _max: number): DirPage {
    throw this.notDir();
  }

  private notDir(): WasiError {
    return new WasiError(this.filetype === FileType.DIRECTORY ? Errno.ROFS : Errno.NOTDIR);
  }
}

const encoder = new TextEncoder();

/** True when `name` can be one directory entry: non-empty, no '/', no NUL, not '.' or '..', short. */
export function isValidName(name: string): boolean {
  if (name === '' || name === '.' || name === '..') return false;
  if (name.includes('/') || name.includes('\0')) return false;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: a short name needs no encoding (SQLite checks
  // its `-journal` and `-wal` names before every statement).
  if (name.length * 3 <= NAME_MAX) return true;
  return name.length <= NAME_MAX && encoder.encode(name).length <= NAME_MAX;
}
