/**
 * File systems that the shared WASI suites (path resolution, path operations, readdir) run on:
 * each test gets a fresh, empty one. A new file-system type joins every suite by adding an entry.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverlayFs, createTmpfs } from '../../../src/enclave/vfs/index.ts';
import type { FileSystem, Inode } from '../../../src/enclave/vfs/index.ts';
import { FileType } from '../../../src/interface/services.ts';
import { MemoryBlockDevice } from '../../../src/common/blockdev/memory.ts';
import { Ext4Fs, compileExt2fs } from '../../../src/common/ext4/index.ts';
import { Ext4FileSystem } from '../../../src/enclave/storage/ext4-vfs.ts';
import { tempHostDirFs } from './host-server.ts';

export interface FsFixture {
  fs: FileSystem;
  cleanup(): void;
}

const MKE2FS = ['/usr/sbin/mke2fs', '/sbin/mke2fs', 'mke2fs'].find(
  (path) => spawnSync(path, ['-V']).status === 0,
);

/** A fresh, writable 8 MiB ext4 in memory, made by mke2fs, with lost+found removed. */
function makeExt4(): FsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-ext4-'));
  try {
    const image = join(dir, 'image');
    const made = spawnSync(MKE2FS!, ['-q', '-F', '-t', 'ext4', '-b', '4096', image, '8192k'], {
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`mke2fs failed: ${made.stderr}`);
    const device = new MemoryBlockDevice(new Uint8Array(readFileSync(image)), 4096);
    const fs = new Ext4FileSystem(Ext4Fs.open(device, { wasm: ext2fs(), readOnly: false }), false);
    fs.root().rmdir('lost+found');
    return { fs, cleanup: () => {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An overlay of a tmpfs over a read-only ext4 image (mke2fs -d) that holds the names the suites
 * use, all removed through the overlay: empty to the suites, but every name they make lands on a
 * whiteout, and every directory they make is opaque.
 */
function makeOverlay(): FsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-overlay-'));
  try {
    const src = join(dir, 'src');
    for (const d of ['d/subdir', 'dir/sub', 'e', 'missing', 'newdir']) {
      mkdirSync(join(src, d), { recursive: true });
    }
    for (const f of ['d/alpha', 'd/old', 'dir/sub/x', 'file', 'a', 'b', 'f', 'newfile', 'x']) {
      writeFileSync(join(src, f), `lower ${f}`);
    }
    symlinkSync('file', join(src, 'target'));
    symlinkSync('dir', join(src, 'link'));
    const image = join(dir, 'image');
    const made = spawnSync(MKE2FS!, ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', src, image, '8192k'], {
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`mke2fs failed: ${made.stderr}`);
    const device = new MemoryBlockDevice(new Uint8Array(readFileSync(image)), 4096);
    const lower = new Ext4FileSystem(Ext4Fs.open(device, { wasm: ext2fs(), readOnly: true }), true);
    const fs = createOverlayFs(lower, createTmpfs());
    removeAll(fs.root());
    return { fs, cleanup: () => {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function removeAll(dir: Inode): void {
  for (const { name, filetype } of dir.readdir(0, 1000).entries) {
    if (filetype === FileType.DIRECTORY) {
      removeAll(dir.lookup(name)!);
      dir.rmdir(name);
    } else {
      dir.unlink(name);
    }
  }
}

let ext2fsModule: ReturnType<typeof compileExt2fs> | null = null;
function ext2fs(): ReturnType<typeof compileExt2fs> {
  ext2fsModule ??= compileExt2fs(
    readFileSync(new URL('../../../src/common/ext4/ext2fs.wasm', import.meta.url)),
  );
  return ext2fsModule;
}

export const FILE_SYSTEMS: { name: string; make(): FsFixture }[] = [
  { name: 'tmpfs', make: () => ({ fs: createTmpfs(), cleanup: () => {} }) },
  {
    name: 'hostdir',
    // The real host-call server in its own thread, over the real ring.
    make: () => tempHostDirFs(),
  },
  // ext4 needs mke2fs (e2fsprogs) to make its empty image.
  ...(MKE2FS ? [{ name: 'ext4', make: makeExt4 }] : []),
  // overlay over a read-only ext4 image, also made by mke2fs.
  ...(MKE2FS ? [{ name: 'overlay', make: makeOverlay }] : []),
];
