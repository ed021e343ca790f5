// The empty ext4 written without e2fsprogs (for libext2fs to fill): e2fsck-clean at every shape.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeEmptyExt4 } from '../../src/image/mkfs.ts';
import { run } from '../storage/helpers/tools.ts';
import { e2fsckClean, requireTools, tempDir } from './helpers/image.ts';

const dir = tempDir();
const uuid = '0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3';

describe('empty ext4 without e2fsprogs', () => {
  // One group; nine groups (backups in 1, 3, 5, 7, 9); a last group too small for its metadata.
  for (const [size, inodes] of [
    [4 << 20, 64],
    [300_000_000, 5000],
    [32768 * 4096 + 40 * 4096, 20000],
  ]) {
    it(`${size} bytes, ${inodes} inodes`, (t) => {
      if (!requireTools(t, 'e2fsck', 'dumpe2fs')) return;
      const path = join(dir, `${size}.img`);
      const bytes = writeEmptyExt4(path, { size, inodes, uuid, epoch: 1234 });
      assert.equal(statSync(path).size, bytes);
      e2fsckClean(path);
      const sb = run('dumpe2fs', ['-h', path]);
      assert.match(
        sb,
        /Filesystem features:\s+filetype extent sparse_super large_file dir_nlink extra_isize\n/,
      );
      assert.match(sb, new RegExp(`Filesystem UUID:\\s+${uuid}`));
      assert.match(sb, new RegExp(`Block count:\\s+${bytes / 4096}\\n`));
      assert.ok(Number(/Inode count:\s+(\d+)/.exec(sb)?.[1]) >= inodes);
    });
  }

  it('refuses a size too small for a file system', () => {
    assert.throws(
      () => writeEmptyExt4(join(dir, 'tiny.img'), { size: 8192, inodes: 16, uuid, epoch: 0 }),
      /too small for a file system/,
    );
  });
});
