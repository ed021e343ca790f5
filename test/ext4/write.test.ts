import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Ext4Fs, ROOT_INO } from '../../src/common/ext4/index.ts';
import {
  FileBlockDevice,
  debugfs,
  debugfsCat,
  debugfsLs,
  ext2fsModule,
  fsck,
  mkfs,
  run,
  scratchDir,
} from './helpers/image.ts';
import { requireTool } from './helpers/tools.ts';

const skip = requireTool('mke2fs', 'e2fsck', 'debugfs');

function assertClean(img: string): void {
  const r = fsck(img);
  assert.equal(r.code, 0, `e2fsck -fn is not clean:\n${r.out}`);
}

for (const blockSize of [1024, 4096]) {
  test(
    `writes files, directories, links and renames that e2fsck and debugfs accept (${blockSize})`,
    { skip },
    () => {
      const tmp = scratchDir();
      try {
        const img = join(tmp.path, 'fs.img');
        mkfs(img, 16384, { blockSize });
        const dev = new FileBlockDevice(img);
        const fs = Ext4Fs.open(dev, { wasm: ext2fsModule, readOnly: false });
        const expected = new Map<string, Buffer>();

        const data = fs.mkdir(ROOT_INO, 'data', { mode: 0o750, uid: 1000, gid: 1000 });
        const small = fs.create(data, 'small.txt', { mode: 0o640 });
        assert.equal(fs.write(small, 0, Buffer.from('hello from the enclave\n')), 23);
        expected.set('/data/small.txt', Buffer.from('hello from the enclave\n'));

        // Several extents: written in pieces, with an overwrite in the middle.
        const big = randomBytes(3 * 1024 * 1024 + 123);
        const bigIno = fs.create(data, 'big.bin');
        for (let at = 0; at < big.length; at += 200_000) fs.write(bigIno, at, big.subarray(at, at + 200_000));
        const patch = randomBytes(10_000);
        patch.copy(big, 1_000_000);
        fs.write(bigIno, 1_000_000, patch);
        expected.set('/data/big.bin', big);

        // A sparse file: a hole, then data far out.
        const sparse = fs.create(data, 'sparse.bin');
        fs.write(sparse, 5_000_000, Buffer.from('tail'));
        const sparseBytes = Buffer.alloc(5_000_004);
        sparseBytes.write('tail', 5_000_000);
        expected.set('/data/sparse.bin', sparseBytes);
        assert.ok(fs.stat(sparse).blocks * 512 < 64 * 1024, 'the hole takes no space');

        // Truncate down and up.
        const trunc = fs.create(data, 'trunc.bin');
        const tbytes = randomBytes(100_000);
        fs.write(trunc, 0, tbytes);
        fs.truncate(trunc, 30_000);
        fs.truncate(trunc, 40_000);
        expected.set('/data/trunc.bin', Buffer.concat([tbytes.subarray(0, 30_000), Buffer.alloc(10_000)]));

        // Symlinks: fast (in the inode) and slow (in a block); a hard link.
        fs.symlink(data, 'fast', 'small.txt');
        const longTarget = 'big.bin' + '/.'.repeat(60);
        fs.symlink(data, 'slow', longTarget);
        fs.link(small, ROOT_INO, 'hardlink.txt');
        expected.set('/hardlink.txt', Buffer.from('hello from the enclave\n'));

        // A directory that grows past one block (linear), and renames across directories.
        const many = fs.mkdir(ROOT_INO, 'many');
        for (let i = 0; i < 300; i++) {
          const ino = fs.create(many, `file-number-${i}-with-a-longer-name`);
          fs.write(ino, 0, Buffer.from(`${i}\n`));
        }
        const moved = fs.mkdir(data, 'moved');
        fs.rename(many, 'file-number-7-with-a-longer-name', moved, 'seven');
        expected.set('/data/moved/seven', Buffer.from('7\n'));
        fs.rename(ROOT_INO, 'many', data, 'many2');
        fs.unlink(fs.lookup('/data/many2'), 'file-number-8-with-a-longer-name');
        for (let i = 0; i < 300; i++) {
          if (i !== 7 && i !== 8)
            expected.set(`/data/many2/file-number-${i}-with-a-longer-name`, Buffer.from(`${i}\n`));
        }
        // Replace an existing file by rename; remove a directory.
        const victim = fs.create(data, 'victim');
        fs.write(victim, 0, Buffer.from('old'));
        const fresh = fs.create(data, 'fresh');
        fs.write(fresh, 0, Buffer.from('new contents'));
        fs.rename(data, 'fresh', data, 'victim');
        expected.set('/data/victim', Buffer.from('new contents'));
        // A directory moved over an empty directory in another parent (link counts of both parents).
        const src = fs.mkdir(ROOT_INO, 'src-dir');
        fs.create(src, 'inside');
        expected.set('/data/moved/target-dir/inside', Buffer.alloc(0));
        fs.mkdir(moved, 'target-dir');
        fs.rename(ROOT_INO, 'src-dir', moved, 'target-dir');
        assert.equal(fs.stat(moved).nlink, 3);
        assert.equal(fs.lookup('/data/moved/target-dir/..'), moved);
        assert.throws(() => fs.rename(data, 'moved', data, 'many2'), { errno: 55 });
        assert.throws(() => fs.rename(data, 'small.txt', data, 'moved'), { errno: 31 });
        assert.throws(() => fs.read(fs.lookup('/data/fast', { follow: false }), 0, 10), { errno: 28 });
        const gone = fs.mkdir(data, 'gone');
        fs.create(gone, 'x');
        assert.throws(() => fs.rmdir(data, 'gone'), { errno: 55 });
        fs.unlink(gone, 'x');
        fs.rmdir(data, 'gone');

        // Errors of the POSIX kind.
        assert.throws(() => fs.create(data, 'small.txt'), { name: 'WasiError', errno: 20 });
        assert.throws(() => fs.mkdir(data, 'small.txt'), { errno: 20 });
        assert.throws(() => fs.unlink(data, 'moved'), { errno: 31 });
        assert.throws(() => fs.rmdir(data, 'small.txt'), { errno: 54 });
        assert.throws(() => fs.unlink(data, 'nothing'), { errno: 44 });
        assert.throws(() => fs.rename(ROOT_INO, 'data', moved, 'loop'), { errno: 28 });
        assert.throws(() => fs.link(moved, ROOT_INO, 'dirlink'), { errno: 63 });

        // Metadata.
        fs.chmod(small, 0o604);
        fs.setTimes(small, { atimeNs: 1_234_567_890_123_456_789n, mtimeNs: 1_000_000_000_987_654_321n });
        const st = fs.stat(small);
        assert.equal(st.mode, 0o604);
        assert.equal(st.nlink, 2);
        assert.equal(st.atimeNs, 1_234_567_890_123_456_789n);
        assert.equal(st.mtimeNs, 1_000_000_000_987_654_321n);
        assert.equal(fs.readlink(fs.lookup('/data/slow', { follow: false })), longTarget);
        assert.equal(fs.lookup('/data/fast'), small);

        // Everything reads back through the wrapper before and after a remount.
        for (const [path, bytes] of expected)
          assert.ok(Buffer.from(fs.readFile(fs.lookup(path))).equals(bytes), path);
        fs.close();
        const fs2 = Ext4Fs.open(dev, { wasm: ext2fsModule });
        for (const [path, bytes] of expected)
          assert.ok(Buffer.from(fs2.readFile(fs2.lookup(path))).equals(bytes), path);
        fs2.close();
        dev.close();

        // The standard tools agree.
        assertClean(img);
        const listing = debugfsLs(img, '/data');
        const byName = new Map(listing.map((e) => [e.name, e]));
        assert.deepEqual([...byName.keys()].sort(), [
          '.',
          '..',
          'big.bin',
          'fast',
          'many2',
          'moved',
          'slow',
          'small.txt',
          'sparse.bin',
          'trunc.bin',
          'victim',
        ]);
        assert.equal(byName.get('.')?.mode, 0o40750);
        assert.equal(byName.get('.')?.uid, 1000);
        assert.equal(byName.get('small.txt')?.mode, 0o100604);
        assert.equal(byName.get('slow')?.size, longTarget.length);
        assert.equal(debugfsLs(img, '/data/many2').length, 300);
        const listings = new Map<string, Map<string, number>>();
        for (const [path, bytes] of expected) {
          const dir = path.slice(0, path.lastIndexOf('/')) || '/';
          if (!listings.has(dir))
            listings.set(dir, new Map(debugfsLs(img, dir).map((e) => [e.name, e.size])));
          assert.equal(listings.get(dir)?.get(path.slice(path.lastIndexOf('/') + 1)), bytes.length, path);
        }
        for (const path of [
          '/data/small.txt',
          '/data/big.bin',
          '/data/sparse.bin',
          '/data/trunc.bin',
          '/data/victim',
        ]) {
          assert.ok(
            debugfsCat(img, path, tmp.path).equals(expected.get(path) as Buffer),
            `debugfs dump ${path}`,
          );
        }
        assert.match(debugfs(img, 'stat /data/small.txt'), /mtime: 0x3b9aca00:eb79a2c4/);
      } finally {
        tmp.dispose();
      }
    },
  );
}

test('inserts into htree directories (e2fsck -fD converted) and keeps them valid', { skip }, () => {
  const tmp = scratchDir();
  try {
    const root = join(tmp.path, 'root');
    mkdirSync(join(root, 'idx'), { recursive: true });
    for (let i = 0; i < 150; i++) writeFileSync(join(root, 'idx', `seed-${i}`), '');
    const img = join(tmp.path, 'fs.img');
    mkfs(img, 16384, { from: root, blockSize: 1024, extra: ['-O', 'dir_index,metadata_csum'] });
    run('e2fsck', ['-fyD', img], true);
    assertClean(img);
    const dev = new FileBlockDevice(img);
    const fs = Ext4Fs.open(dev, { wasm: ext2fsModule, readOnly: false });
    const dir = fs.lookup('/idx');
    assert.ok(fs.stat(dir).flags & 0x1000, 'htree');
    for (let i = 0; i < 600; i++) fs.create(dir, `added-entry-with-a-fairly-long-name-${i}`);
    for (let i = 0; i < 150; i += 3) fs.unlink(dir, `seed-${i}`);
    for (let i = 0; i < 50; i++) fs.mkdir(dir, `subdir-${i}`);
    fs.rename(dir, 'seed-1', dir, 'renamed-seed-1');
    assert.equal(fs.readdir(dir).length, 2 + 150 - 50 + 600 + 50);
    fs.close();
    dev.close();
    assertClean(img);
    const names = debugfsLs(img, '/idx').map((e) => e.name);
    assert.equal(names.length, 752);
    assert.ok(names.includes('added-entry-with-a-fairly-long-name-599'));
    assert.ok(names.includes('renamed-seed-1') && !names.includes('seed-1') && !names.includes('seed-0'));
    assert.match(debugfs(img, 'htree_dump /idx'), /Number of entries/);
    assert.equal(debugfsLs(img, '/idx').find((e) => e.name === 'subdir-3')?.mode, 0o40755);
  } finally {
    tmp.dispose();
  }
});
