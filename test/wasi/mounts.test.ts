/** The mount table: file systems on top of a root, reached and left through ordinary paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { createMountTree, createStaticFs, createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { FileSystem } from '../../src/enclave/vfs/index.ts';
import { FIRST_PREOPEN as ROOT, Guest, parseDirents } from './helpers/guest.ts';

const O_CREAT = 1;
const O_DIRECTORY = 2;
const FD_READ = 1n << 1n;

function tree(): { root: FileSystem; data: FileSystem; tree: FileSystem } {
  const root = createTmpfs();
  const data = createTmpfs();
  const mrenclave = new Uint8Array(32).map((_, i) => i);
  const mounts = [
    { path: '/dev/attestation', fs: createStaticFs({ mrenclave }) },
    { path: '/data', fs: data },
  ];
  return { root, data, tree: createMountTree(root, mounts) };
}

function inTree(body: (g: Guest) => void): void {
  const g = new Guest({ preopens: [{ guestPath: '/', fs: tree().tree }] });
  assert.equal(g.run(body), 0);
}

test('mounted files are reached through directories that exist only on the way to them', () =>
  inTree((g) => {
    const [errno, fd] = g.open(ROOT, 'dev/attestation/mrenclave', { base: FD_READ });
    assert.equal(errno, 0);
    const buf = g.alloc(64);
    const iov = g.alloc(8);
    g.view.setUint32(iov, buf, true);
    g.view.setUint32(iov + 4, 64, true);
    const n = g.alloc(4);
    assert.equal(g.call('fd_read', fd, iov, 1, n), 0);
    assert.deepEqual([...g.read(buf, g.u32(n))], [...Array(32).keys()]);
    assert.equal(g.pathCall('path_create_directory', ROOT, 'dev/x'), Errno.ROFS);
    assert.equal(g.open(ROOT, 'dev/attestation/../attestation/mrenclave', { base: FD_READ })[0], 0);
    assert.equal(g.open(ROOT, 'dev/attestation/../../..')[0], Errno.NOTCAPABLE);
  }));

test('readdir shows mount points beside the root file system’s own entries', () =>
  inTree((g) => {
    assert.equal(g.open(ROOT, 'etc', { oflags: O_CREAT })[0], 0);
    const names = parseDirents(g.readdir(ROOT, 0n, 4096)[2]).map((e) => e.name);
    assert.deepEqual(names.sort(), ['.', '..', 'data', 'dev', 'etc']);
    const [, dev] = g.open(ROOT, 'dev', { oflags: O_DIRECTORY });
    assert.deepEqual(
      parseDirents(g.readdir(dev, 0n, 4096)[2]).map((e) => e.name),
      ['.', '..', 'attestation'],
    );
  }));

test('a writable mount is its own file system: cross-mount renames and links are XDEV', () => {
  const { data, tree: fs } = tree();
  const g = new Guest({ preopens: [{ guestPath: '/', fs }] });
  g.run(() => {
    const [, fd] = g.open(ROOT, 'data/file', { oflags: O_CREAT });
    assert.deepEqual(g.write(fd, 'in data'), [0, 7]);
    assert.equal(g.open(ROOT, 'top', { oflags: O_CREAT })[0], 0);
    const two = (call: string, a: string, b: string): number => {
      const [ap, al] = g.bytes(a);
      const [bp, bl] = g.bytes(b);
      return call === 'path_link'
        ? g.call(call, ROOT, 0, ap, al, ROOT, bp, bl)
        : g.call(call, ROOT, ap, al, ROOT, bp, bl);
    };
    assert.equal(two('path_rename', 'data/file', 'moved'), Errno.XDEV);
    assert.equal(two('path_link', 'top', 'data/top'), Errno.XDEV);
    assert.equal(two('path_rename', 'data/file', 'data/renamed'), 0);
    assert.equal(two('path_rename', 'data', 'elsewhere'), Errno.BUSY);
    assert.equal(g.pathCall('path_remove_directory', ROOT, 'data'), Errno.BUSY);
    assert.equal(g.pathCall('path_create_directory', ROOT, 'data'), Errno.EXIST);
  });
  // The file landed in the mounted tmpfs, not in the root.
  assert.doesNotThrow(() => data.root().lookup('renamed'));
});

test('invalid or repeated mount paths are refused', () => {
  const fs = createTmpfs();
  assert.throws(() => createMountTree(fs, [{ path: 'relative', fs }]), /invalid path/);
  assert.throws(() => createMountTree(fs, [{ path: '/a/../b', fs }]), /invalid path/);
  assert.throws(
    () =>
      createMountTree(fs, [
        { path: '/a', fs },
        { path: '/a', fs },
      ]),
    /twice/,
  );
});
