import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { join } from 'node:path';
import { Ext4Fs, ROOT_INO } from '../common/ext4/index.ts';
import { BlockCache } from '../common/blockdev/cache.ts';
import { FileBlockDevice } from './file-device.ts';
import { Errno, WasiError } from '../interface/errno.ts';
import { packageRoot } from '../host/package-files.ts';
import { ImageError } from './errors.ts';
import type { ProgressCallback } from './progress.ts';
import type { StagedTree } from './stage.ts';

const CHUNK = 1 << 20;

/** The enclave's libext2fs, compiled to WebAssembly, as shipped in the package. */
export function ext2fsWasm(): Uint8Array {
  const wasmPath = join(packageRoot(), 'src', 'common', 'ext4', 'ext2fs.wasm');
  if (!existsSync(wasmPath)) throw new ImageError(`${wasmPath} is missing: reinstall cloister`);
  return new Uint8Array(readFileSync(wasmPath));
}

/** The file is too small for the tree (libext2fs said ENOSPC). */
export class Ext4FullError extends ImageError {}

/**
 * Copies the staged tree into the empty ext4 file system in `image` with libext2fs (the enclave's
 * ext4 code, compiled to WebAssembly), in sorted order, with the owners and modes of its attributes,
 * every timestamp `epoch`, and all-zero 1 MiB runs of files left as holes (as mke2fs -d does).
 */
export function populateExt4(
  image: string,
  stageDir: string,
  tree: StagedTree,
  epoch: number,
  onProgress?: ProgressCallback,
): void {
  const attrs = new Map(tree.attributes.map((a) => [a.path, a]));
  const total = tree.blocks * 4096;
  let done = 0;
  const wasm = ext2fsWasm();
  const fd = openSync(image, 'r+');
  const fs = Ext4Fs.open(new BlockCache(new FileBlockDevice(fd, { writable: true, durable: false })), {
    wasm,
    readOnly: false,
    now: () => BigInt(epoch) * 1_000_000_000n,
  });
  try {
    const linked = new Map<number, number>();
    const owner = (rel: string) => attrs.get(rel) ?? { path: rel, mode: 0o755, uid: 0, gid: 0 };
    const copy = (hostDir: string, dirIno: number, rel: string) => {
      for (const name of readdirSync(hostDir).sort()) {
        const host = join(hostDir, name);
        const child = rel === '' ? name : `${rel}/${name}`;
        const st = lstatSync(host);
        const a = owner(child);
        const opts = { mode: a.mode & 0o7777, uid: a.uid, gid: a.gid };
        if (st.isDirectory() && child === 'lost+found') {
          // The file system has its own; the source's contents go into it, as with mke2fs -d.
          const ino = fs.lookupIn(ROOT_INO, name);
          fs.chmod(ino, opts.mode);
          fs.chown(ino, opts.uid, opts.gid);
          copy(host, ino, child);
        } else if (st.isDirectory()) {
          copy(host, fs.mkdir(dirIno, name, opts), child);
        } else if (st.isSymbolicLink()) {
          fs.symlink(dirIno, name, readlinkSync(host), opts);
        } else if (st.nlink > 1 && linked.has(st.ino)) {
          fs.link(linked.get(st.ino) as number, dirIno, name);
        } else {
          const ino = fs.create(dirIno, name, opts);
          if (st.nlink > 1) linked.set(st.ino, ino);
          writeFile(fs, ino, host, st.size);
          done += Math.ceil(st.size / 4096) * 4096;
          onProgress?.('writing ext4', Math.min(done, total), total);
        }
      }
    };
    const root = owner('');
    fs.chmod(ROOT_INO, root.mode);
    fs.chown(ROOT_INO, root.uid, root.gid);
    copy(stageDir, ROOT_INO, '');
    fs.close();
  } catch (error) {
    if (error instanceof WasiError && error.errno === Errno.NOSPC) {
      throw new Ext4FullError('the contents do not fit');
    }
    throw error;
  } finally {
    closeSync(fd);
  }
}

function writeFile(fs: Ext4Fs, ino: number, host: string, size: number): void {
  const fd = openSync(host, 'r');
  try {
    const chunk = new Uint8Array(CHUNK);
    for (let offset = 0; offset < size; offset += CHUNK) {
      const part = chunk.subarray(0, Math.min(CHUNK, size - offset));
      if (readSync(fd, part, 0, part.length, offset) !== part.length)
        throw new ImageError(`${host}: changed while read`);
      if (part.every((b) => b === 0)) continue;
      if (fs.write(ino, offset, part) !== part.length) throw new Ext4FullError('the contents do not fit');
    }
    fs.truncate(ino, size);
  } finally {
    closeSync(fd);
  }
}
