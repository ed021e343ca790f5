import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { WasiError } from '../../src/interface/errno.ts';
import { Ext4Fs, ROOT_INO } from '../../src/common/ext4/index.ts';
import {
  FileBlockDevice,
  debugfsCat,
  debugfsLs,
  ext2fsModule,
  fsck,
  mkfs,
  scratchDir,
} from './helpers/image.ts';
import { requireTool } from './helpers/tools.ts';

const skip = requireTool('mke2fs', 'e2fsck', 'debugfs');
const NOSPC = 51;

function isNoSpace(err: unknown): boolean {
  return err instanceof WasiError && err.errno === NOSPC;
}

test('filling the file system gives ENOSPC and leaves it e2fsck-clean', { skip }, () => {
  const tmp = scratchDir();
  try {
    const img = join(tmp.path, 'small.img');
    mkfs(img, 2048, { blockSize: 1024, extra: ['-N', '64'] });
    const dev = new FileBlockDevice(img);
    const fs = Ext4Fs.open(dev, { wasm: ext2fsModule, readOnly: false });
    const dir = fs.mkdir(ROOT_INO, 'fill');
    const written = new Map<string, number>();
    const chunk = new Uint8Array(100_000).fill(0x5a);
    let full = false;
    for (let i = 0; !full && i < 100; i++) {
      const name = `f${i}`;
      const ino = fs.create(dir, name);
      let size = 0;
      try {
        for (let k = 0; k < 5; k++) {
          const n = fs.write(ino, size, chunk);
          size += n;
          if (n < chunk.length) {
            full = true;
            break;
          }
        }
      } catch (err) {
        assert.ok(isNoSpace(err), String(err));
        full = true;
      }
      written.set(name, size);
    }
    assert.ok(full, 'the file system filled up');
    assert.equal(fs.statfs().freeBlocks, 0);
    const last = fs.lookupIn(dir, [...written.keys()].at(-1) as string);
    assert.throws(() => fs.write(last, fs.stat(last).size, chunk), isNoSpace);
    assert.throws(() => fs.mkdir(ROOT_INO, 'no-room'), isNoSpace);
    assert.throws(() => fs.symlink(ROOT_INO, 'slow', 'x'.repeat(200)), isNoSpace);
    // Creating empty files still works until the inodes run out.
    let inodesLeft = true;
    for (let i = 0; inodesLeft && i < 200; i++) {
      try {
        fs.create(ROOT_INO, `e${i}`);
      } catch (err) {
        assert.ok(isNoSpace(err), String(err));
        inodesLeft = false;
      }
    }
    assert.ok(!inodesLeft, 'inodes ran out');
    assert.equal(fs.statfs().freeInodes, 0);
    // Deleting gives the space back.
    fs.unlink(dir, 'f0');
    assert.ok(fs.statfs().freeBlocks > 90);
    written.delete('f0');
    const again = fs.create(dir, 'again');
    assert.throws(() => fs.create(dir, 'one-too-many'), isNoSpace);
    assert.equal(fs.write(again, 0, chunk.subarray(0, 50_000)), 50_000);
    written.set('again', 50_000);
    for (const [name, size] of written) assert.equal(fs.stat(fs.lookupIn(dir, name)).size, size, name);
    fs.close();
    dev.close();

    const r = fsck(img);
    assert.equal(r.code, 0, r.out);
    const listed = new Map(debugfsLs(img, '/fill').map((e) => [e.name, e.size]));
    for (const [name, size] of written) assert.equal(listed.get(name), size, name);
    const dumped = debugfsCat(img, '/fill/again', tmp.path);
    assert.ok(dumped.equals(Buffer.from(chunk.subarray(0, 50_000))));
  } finally {
    tmp.dispose();
  }
});
