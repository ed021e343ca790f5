/**
 * The enclave's virtual file system: file-system drivers behind one `Inode`/`FileHandle`
 * interface. Open-file state (offset, flags, rights) belongs to the WASI layer above.
 */
export type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';
export { isValidName, NAME_MAX } from './base.ts';
export { createTmpfs } from './tmpfs.ts';
export type { TmpfsOptions } from './tmpfs.ts';
export { createHostDirFs } from './hostdir.ts';
export { createStaticFs } from './staticfs.ts';
export { createMountTree } from './mounts.ts';
export type { Mount } from './mounts.ts';
