/**
 * The enclave's virtual file system: file-system drivers behind one `Inode` / `FileHandle`
 * interface (`types.ts`), which the WASI layer above uses and nothing else.
 *
 * - `Inode` is the data: type, metadata, directory entries, link targets. Open-file state
 *   (position, flags, rights) belongs to the WASI layer's descriptors, never to an inode.
 * - `FileHandle` is byte access to an open regular file; tmpfs files are their own handle, hostdir
 *   handles are host handles, ext4 (`src/enclave/storage/ext4-vfs.ts`) reads through its cache.
 * - Drivers: `tmpfs` (enclave memory), `hostdir` (an untrusted host directory, every answer
 *   checked), `static` (read-only pseudo-files such as /dev/attestation/mrenclave), and the mount
 *   table that layers them at absolute paths.
 * - Path walking is not here: the WASI layer resolves paths one component at a time with
 *   `Inode.lookup`, so symlinks and '..' are handled once, in the enclave, for every driver.
 */
export type { DirEntry, DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from './types.ts';
export { isValidName, NAME_MAX } from './base.ts';
export { createTmpfs } from './tmpfs.ts';
export type { TmpfsOptions } from './tmpfs.ts';
export { createHostDirFs } from './hostdir.ts';
export { createStaticFs } from './staticfs.ts';
export type { PseudoFile } from './staticfs.ts';
export { createMountTree } from './mounts.ts';
export { createOverlayFs } from './overlay.ts';
export type { Mount } from './mounts.ts';
