// Each ext4 mount is its own device: a WASI stat's `dev` differs between two mounts, so that
// (dev, ino) names one file, as programs that compare files by it (cp, tar, SQLite) expect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMountTree, createTmpfs } from '../../src/enclave/vfs/index.ts';
import { FILE_SYSTEMS } from '../wasi/helpers/filesystems.ts';
import { FIRST_PREOPEN as ROOT, Guest } from '../wasi/helpers/guest.ts';

const ext4 = FILE_SYSTEMS.find((f) => f.name === 'ext4');

test('two ext4 mounts report different devices; files on one mount share its device', { skip: !ext4 }, () => {
  const [a, b] = [ext4!.make(), ext4!.make()];
  try {
    a.fs.root().createFile('f', true);
    b.fs.root().createFile('f', true);
    const fs = createMountTree(createTmpfs(), [
      { path: '/a', fs: a.fs },
      { path: '/b', fs: b.fs },
    ]);
    const g = new Guest({ preopens: [{ guestPath: '/', fs }] });
    const ids: Record<string, [bigint, bigint]> = {};
    assert.equal(
      g.run(() => {
        for (const path of ['a', 'b', 'a/f', 'b/f']) {
          const [p, l] = g.bytes(path);
          const stat = g.alloc(64);
          assert.equal(g.call('path_filestat_get', ROOT, 1, p, l, stat), 0, path);
          ids[path] = [g.view.getBigUint64(stat, true), g.view.getBigUint64(stat + 8, true)];
        }
      }),
      0,
    );
    assert.notEqual(ids.a[0], ids.b[0], 'the two mounts are different devices');
    assert.equal(ids['a/f'][0], ids.a[0]);
    assert.equal(ids['b/f'][0], ids.b[0]);
    assert.equal(ids['a/f'][1], ids['b/f'][1], 'same inode number on both: only dev tells them apart');
  } finally {
    a.cleanup();
    b.cleanup();
  }
});
