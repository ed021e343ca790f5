/** ext4 inside the enclave: libext2fs (ext2fs.wasm) behind a typed, synchronous API. */
export { Ext4Fs, ROOT_INO, compileExt2fs } from './ext4fs.ts';
export type {
  CreateOptions,
  DirEntry,
  Ext2fsModule,
  Ext4OpenOptions,
  Ext4Stat,
  FileType,
  StatFs,
} from './ext4fs.ts';
export { BlockCache } from './cache.ts';
export type { CacheStats } from './cache.ts';
export { MemoryBlockDevice, fromBlockLayer } from './device.ts';
export type { BlockDevice } from './device.ts';
