/** ext4 on both sides: libext2fs (ext2fs.wasm) behind a typed, synchronous API. */
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
