import { Errno } from '../../src/interface/errno.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Ext4Fs, ROOT_INO } from '../../src/common/ext4/index.ts';
import { FileBlockDevice, ext2fsModule, fsck, mkfs, run, scratchDir } from './helpers/image.ts';
import { requireTool } from './helpers/tools.ts';

const skip = requireTool('mke2fs', 'e2fsck', 'debugfs');

function populate(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>([
    ['/empty', Buffer.alloc(0)],
    ['/hello.txt', Buffer.from('hello, enclave\n')],
    ['/dir/nested/deep.bin', randomBytes(70_000)],
    ['/dir/big.bin', randomBytes(1_500_000)],
    ['/dir/ünïcødé name.txt', Buffer.from('utf-8 names\n')],
  ]);
  mkdirSync(join(root, 'dir/nested'), { recursive: true });
  for (const [path, data] of files) writeFileSync(join(root, path), data);
  chmodSync(join(root, 'hello.txt'), 0o600);
  utimesSync(join(root, 'hello.txt'), 1_600_000_000, 1_700_000_000);
  symlinkSync('../hello.txt', join(root, 'dir/fast-link'));
  symlinkSync('nested/' + 'x'.repeat(90) + '/../deep.bin', join(root, 'dir/slow-link'));
  mkdirSync(join(root, 'dir/nested', 'x'.repeat(90)));
  linkSync(join(root, 'hello.txt'), join(root, 'dir/hard.txt'));
  return files;
}

for (const blockSize of [1024, 4096]) {
  test(
    `reads files, directories and symlinks of a mke2fs -d image (${blockSize}-byte blocks)`,
    { skip },
    () => {
      const tmp = scratchDir();
      try {
        const root = join(tmp.path, 'root');
        mkdirSync(root);
        const files = populate(root);
        const img = join(tmp.path, 'fs.img');
        mkfs(img, 8192, { from: root, blockSize });
        const dev = new FileBlockDevice(img, 4096, false);
        const fs = Ext4Fs.open(dev, { wasm: ext2fsModule });
        for (const [path, data] of files) {
          const ino = fs.lookup(path);
          const st = fs.stat(ino);
          assert.equal(st.type, 'file', path);
          assert.equal(st.size, data.length, path);
          assert.ok(Buffer.from(fs.readFile(ino)).equals(data), path);
        }
        const names = fs
          .readdir(fs.lookup('/dir'))
          .map((e) => `${e.name}:${e.type}`)
          .sort();
        assert.deepEqual(names, [
          '..:dir',
          '.:dir',
          'big.bin:file',
          'fast-link:symlink',
          'hard.txt:file',
          'nested:dir',
          'slow-link:symlink',
          'ünïcødé name.txt:file',
        ]);
        const hello = fs.stat(fs.lookup('/hello.txt'));
        assert.equal(hello.mode, 0o600);
        assert.equal(hello.nlink, 2);
        assert.equal(hello.mtimeNs, 1_700_000_000n * 1_000_000_000n);
        assert.equal(hello.atimeNs, 1_600_000_000n * 1_000_000_000n);
        assert.equal(fs.lookup('/dir/hard.txt'), hello.ino);
        assert.equal(fs.readlink(fs.lookup('/dir/fast-link', { follow: false })), '../hello.txt');
        assert.equal(fs.lookup('/dir/fast-link'), hello.ino);
        assert.equal(fs.lookup('/dir/slow-link'), fs.lookup('/dir/nested/deep.bin'));
        assert.equal(fs.lookup('/dir/nested/../../hello.txt'), hello.ino);
        assert.equal(fs.lookup('/'), ROOT_INO);
        // Ranges: a read across block boundaries, and past end of file.
        const big = files.get('/dir/big.bin') as Buffer;
        const bigIno = fs.lookup('/dir/big.bin');
        assert.ok(Buffer.from(fs.read(bigIno, 4000, 10_000)).equals(big.subarray(4000, 14_000)));
        assert.equal(fs.read(bigIno, big.length - 5, 100).length, 5);
        assert.equal(fs.read(bigIno, big.length + 5, 100).length, 0);
        assert.throws(() => fs.lookup('/missing'), { name: 'WasiError', errno: 44 });
        assert.throws(() => fs.lookup('/hello.txt/x'), { name: 'WasiError', errno: 54 });
        assert.throws(() => fs.read(fs.lookup('/dir'), 0, 1), { name: 'WasiError', errno: 31 });
        const sfs = fs.statfs();
        assert.equal(sfs.blockSize, blockSize);
        assert.equal(sfs.blocks, (8192 * 1024) / blockSize);
        assert.ok(sfs.readOnly);
        assert.throws(() => fs.create(ROOT_INO, 'nope'), { name: 'WasiError', errno: Errno.ROFS });
        fs.close();
        assert.equal(dev.writes, 0, 'a read-only mount never writes');
        dev.close();
        assert.equal(fsck(img).code, 0);
      } finally {
        tmp.dispose();
      }
    },
  );
}

test('finds every entry of an htree directory made by e2fsck -fD', { skip }, () => {
  const tmp = scratchDir();
  try {
    const root = join(tmp.path, 'root');
    mkdirSync(join(root, 'many'), { recursive: true });
    for (let i = 0; i < 400; i++) writeFileSync(join(root, 'many', `entry-with-a-long-name-${i}`), `${i}\n`);
    const img = join(tmp.path, 'fs.img');
    mkfs(img, 8192, { from: root, blockSize: 1024, extra: ['-O', 'dir_index'] });
    run('e2fsck', ['-fyD', img], true);
    assert.equal(fsck(img).code, 0);
    const dev = new FileBlockDevice(img, 4096, false);
    const fs = Ext4Fs.open(dev, { wasm: ext2fsModule });
    const dir = fs.lookup('/many');
    assert.ok(fs.stat(dir).flags & 0x1000, 'EXT2_INDEX_FL set by e2fsck -D');
    assert.equal(fs.readdir(dir).length, 402);
    for (let i = 0; i < 400; i += 7) {
      const text = new TextDecoder().decode(fs.readFile(fs.lookupIn(dir, `entry-with-a-long-name-${i}`)));
      assert.equal(text, `${i}\n`);
    }
    fs.close();
    dev.close();
  } finally {
    tmp.dispose();
  }
});
