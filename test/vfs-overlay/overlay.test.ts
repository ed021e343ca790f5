/** The overlay's semantics through the Inode interface: read-through, copy-up, whiteouts, opaque directories, rename. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { FileType } from '../../src/interface/services.ts';
import { createOverlayFs, createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { FileSystem, Inode } from '../../src/enclave/vfs/index.ts';
import { at, frozenTree, names, readText, writeText } from './helpers/layers.ts';
import type { FrozenFs } from './helpers/layers.ts';

const TREE = {
  'hello.txt': 'hello, lower world',
  etc: { passwd: 'root:x:0:0', hosts: '127.0.0.1 localhost', 'rc.d': { init: 'start' } },
  usr: { lib: { 'libc.so': 'ELF...' } },
  link: { symlink: 'hello.txt' },
  empty: {},
};

/** An overlay of a fresh tmpfs over a frozen copy of TREE; checks afterwards that lower was never written. */
function withOverlay(body: (root: Inode, lower: FrozenFs, upper: FileSystem) => void): void {
  const lower = frozenTree(TREE);
  const upper = createTmpfs();
  body(createOverlayFs(lower, upper).root(), lower, upper);
  assert.equal(lower.attempts, 0, 'the lower layer was never asked to change');
  assert.equal(readText(lower.root(), 'hello.txt'), TREE['hello.txt']);
  assert.equal(readText(lower.root(), 'etc/passwd'), TREE.etc.passwd);
}

const errno = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { errno?: number }).errno;
  }
  return undefined;
};

test('reads through to the lower layer, and reports its inodes', () =>
  withOverlay((root, lower, upper) => {
    assert.equal(readText(root, 'hello.txt'), 'hello, lower world');
    assert.equal(readText(root, 'etc/rc.d/init'), 'start');
    assert.equal(at(root, 'link').readlink(), 'hello.txt');
    assert.equal(root.lookup('missing'), null);
    assert.equal(at(root, 'usr/lib').filetype, FileType.DIRECTORY);
    assert.deepEqual(at(root, 'etc/hosts').stat(), at(lower.root(), 'etc/hosts').stat());
    assert.deepEqual(names(upper.root()), [], 'reading copies nothing up');
  }));

test('writing to a lower file copies it up whole, with its times, and leaves lower alone', () =>
  withOverlay((root, lower, upper) => {
    const before = at(lower.root(), 'etc/passwd').stat();
    // A reader opened before the copy-up follows the file to upper, as Linux does.
    const reader = at(root, 'etc/passwd').open({ write: false, truncate: false });
    const handle = at(root, 'etc/passwd').open({ write: true, truncate: false });
    const copied = at(upper.root(), 'etc/passwd').stat();
    assert.equal(copied.mtimNs, before.mtimNs);
    assert.equal(copied.atimNs, before.atimNs);
    handle.write(0, new TextEncoder().encode('ROOT'));
    handle.close();
    assert.equal(readText(root, 'etc/passwd'), 'ROOT:x:0:0');
    const buf = new Uint8Array(4);
    assert.equal(reader.read(0, buf), 4);
    assert.equal(new TextDecoder().decode(buf), 'ROOT');
    reader.close();
    assert.equal(at(root, 'etc/passwd').stat().ino, copied.ino);
    // The rest of etc is still read from lower; only the file and its parent were copied up.
    assert.equal(readText(root, 'etc/hosts'), '127.0.0.1 localhost');
    assert.deepEqual(names(at(upper.root(), 'etc')), ['passwd']);
  }));

test('truncating and setting times copy up too; a read-only handle copies up when asked to change', () =>
  withOverlay((root, _lower, upper) => {
    at(root, 'etc/hosts').open({ write: true, truncate: true }).close();
    assert.equal(readText(root, 'etc/hosts'), '');
    at(root, 'usr/lib/libc.so').setTimes(5n, 7n);
    assert.equal(at(root, 'usr/lib/libc.so').stat().mtimNs, 7n);
    assert.equal(readText(upper.root(), 'usr/lib/libc.so'), 'ELF...');
    const handle = at(root, 'hello.txt').open({ write: false, truncate: false });
    handle.truncate(5);
    handle.close();
    assert.equal(readText(root, 'hello.txt'), 'hello');
  }));

test('creating in a lower-only directory copies up its parents, and the lower entries stay', () =>
  withOverlay((root, _lower, upper) => {
    const dir = at(root, 'etc/rc.d');
    dir.createFile('new', true);
    writeText(root, 'etc/rc.d/new', 0, 'fresh');
    dir.mkdir('sub').symlink('up', '../init');
    assert.deepEqual(names(at(root, 'etc/rc.d')).sort(), ['init', 'new', 'sub']);
    assert.equal(readText(root, 'etc/rc.d/new'), 'fresh');
    assert.equal(at(root, 'etc/rc.d/sub/up').readlink(), '../init');
    assert.equal(readText(root, 'etc/rc.d/init'), 'start');
    assert.deepEqual(names(at(upper.root(), 'etc/rc.d')).sort(), ['new', 'sub']);
    assert.equal(
      errno(() => dir.createFile('init', true)),
      Errno.EXIST,
    );
    assert.equal(dir.createFile('init', false).stat().ino, at(root, 'etc/rc.d/init').stat().ino);
    assert.equal(
      errno(() => dir.mkdir('init')),
      Errno.EXIST,
    );
    assert.equal(
      errno(() => root.symlink('etc', 'x')),
      Errno.EXIST,
    );
  }));

test('unlink and rmdir of lower entries leave whiteouts; ENOTEMPTY while lower entries show', () =>
  withOverlay((root) => {
    root.unlink('hello.txt');
    assert.equal(root.lookup('hello.txt'), null);
    assert.equal(
      errno(() => root.unlink('hello.txt')),
      Errno.NOENT,
    );
    assert.ok(!names(root).includes('hello.txt'));
    // The link now dangles, as it would on a plain file system.
    assert.equal(root.lookup('link')!.readlink(), 'hello.txt');

    root.rmdir('empty');
    assert.equal(root.lookup('empty'), null);
    const etc = at(root, 'etc');
    assert.equal(
      errno(() => root.rmdir('etc')),
      Errno.NOTEMPTY,
    );
    etc.unlink('passwd');
    etc.unlink('hosts');
    assert.equal(
      errno(() => root.rmdir('etc')),
      Errno.NOTEMPTY,
    );
    assert.equal(
      errno(() => at(root, 'etc/rc.d').rmdir('init')),
      Errno.NOTDIR,
    );
    at(root, 'etc/rc.d').unlink('init');
    etc.rmdir('rc.d');
    assert.deepEqual(names(etc), []);
    root.rmdir('etc');
    assert.deepEqual(names(root).sort(), ['link', 'usr']);
    // An open directory that was removed lists nothing more.
    assert.deepEqual(names(etc), []);
    assert.equal(etc.lookup('passwd'), null);
  }));

test('a file made where a lower one was removed has only the new contents', () =>
  withOverlay((root) => {
    root.unlink('hello.txt');
    root.createFile('hello.txt', true);
    assert.equal(readText(root, 'hello.txt'), '');
    writeText(root, 'hello.txt', 0, 'new');
    assert.equal(readText(root, 'hello.txt'), 'new');
    assert.equal(names(root).filter((n) => n === 'hello.txt').length, 1);
    root.unlink('hello.txt');
    assert.equal(root.lookup('hello.txt'), null, 'removing the new file brings back no lower one');
  }));

test('a directory removed and made again is opaque', () =>
  withOverlay((root) => {
    at(root, 'usr/lib').unlink('libc.so');
    at(root, 'usr').rmdir('lib');
    const lib = at(root, 'usr').mkdir('lib');
    assert.deepEqual(names(lib), []);
    assert.equal(at(root, 'usr/lib').lookup('libc.so'), null);
    lib.createFile('libm.so', true);
    assert.deepEqual(names(at(root, 'usr/lib')), ['libm.so']);
    // Removing it again needs only its own entries gone.
    assert.equal(
      errno(() => at(root, 'usr').rmdir('lib')),
      Errno.NOTEMPTY,
    );
    at(root, 'usr/lib').unlink('libm.so');
    at(root, 'usr').rmdir('lib');
    assert.equal(at(root, 'usr').lookup('lib'), null);
  }));

test('rename: files copy up and leave a whiteout, lower directories are EXDEV, upper ones move', () =>
  withOverlay((root) => {
    const etc = at(root, 'etc');
    etc.rename('passwd', root, 'passwd.bak');
    assert.equal(readText(root, 'passwd.bak'), 'root:x:0:0');
    assert.equal(etc.lookup('passwd'), null);
    assert.ok(!names(etc).includes('passwd'));
    // Over a lower file: the lower one is hidden, the moved one shows once.
    root.rename('passwd.bak', etc, 'hosts');
    assert.equal(readText(root, 'etc/hosts'), 'root:x:0:0');
    assert.deepEqual(names(etc).sort(), ['hosts', 'rc.d']);
    root.rename('link', etc, 'link');
    assert.equal(at(root, 'etc/link').readlink(), 'hello.txt');
    assert.equal(root.lookup('link'), null);

    assert.equal(
      errno(() => root.rename('usr', root, 'opt')),
      Errno.XDEV,
    );
    assert.equal(
      errno(() => root.rename('etc', root, 'usr')),
      Errno.XDEV,
    );
    assert.equal(
      errno(() => root.rename('hello.txt', root, 'usr')),
      Errno.ISDIR,
    );
    assert.equal(
      errno(() => root.rename('missing', root, 'x')),
      Errno.NOENT,
    );

    // An upper directory moved onto a removed lower one hides the lower entries there.
    const made = root.mkdir('made');
    made.createFile('mine', true);
    at(root, 'etc/rc.d').unlink('init');
    at(root, 'etc').rmdir('rc.d');
    root.rename('made', etc, 'rc.d');
    assert.deepEqual(names(at(root, 'etc/rc.d')), ['mine']);
    assert.equal(root.lookup('made'), null);
    // ... and onto an empty-looking lower directory.
    const other = root.mkdir('other');
    assert.equal(
      errno(() => root.rename('other', root, 'usr')),
      Errno.NOTEMPTY,
    );
    root.rename('other', root, 'empty');
    assert.deepEqual(names(at(root, 'empty')), []);
    assert.equal(other.lookup('x'), null);
    root.rename('hello.txt', root, 'hello.txt');
    assert.equal(readText(root, 'hello.txt'), 'hello, lower world');
  }));

test('a hard link to a lower file copies it up first; both names then share it', () =>
  withOverlay((root) => {
    root.link('hello2', at(root, 'hello.txt'));
    assert.equal(at(root, 'hello.txt').stat().nlink, 2n);
    writeText(root, 'hello2', 0, 'HELLO');
    assert.equal(readText(root, 'hello.txt'), 'HELLO, lower world');
    root.unlink('hello.txt');
    assert.equal(readText(root, 'hello2'), 'HELLO, lower world');
    assert.equal(root.lookup('hello.txt'), null);
    assert.equal(
      errno(() => root.link('d', at(root, 'etc'))),
      Errno.PERM,
    );
    assert.equal(
      errno(() => root.link('x', createTmpfs().root())),
      Errno.XDEV,
    );
    // Renaming one link onto another of the same file changes nothing.
    root.link('hello3', at(root, 'hello2'));
    root.rename('hello2', root, 'hello3');
    assert.equal(readText(root, 'hello2'), 'HELLO, lower world');
  }));

test('symbolic links: made in upper, copied up by rename and times, and removed with a whiteout', () =>
  withOverlay((root) => {
    at(root, 'usr').symlink('libc', 'lib/libc.so');
    assert.equal(at(root, 'usr/libc').readlink(), 'lib/libc.so');
    at(root, 'link').setTimes(1n, 2n);
    assert.equal(at(root, 'link').stat().mtimNs, 2n);
    assert.equal(at(root, 'link').readlink(), 'hello.txt');
    root.unlink('link');
    assert.equal(root.lookup('link'), null);
    root.symlink('link', 'etc');
    assert.equal(at(root, 'link').readlink(), 'etc');
  }));

test('copy-up keeps the times of the directories it copies up', () => {
  const lower = frozenTree(TREE);
  // An upper clock far from the lower files' times, so that any time taken from it shows.
  const root = createOverlayFs(lower, createTmpfs({ now: () => 1n })).root();
  const before = at(lower.root(), 'usr/lib').stat();
  at(root, 'usr/lib/libc.so').open({ write: true, truncate: false }).close();
  for (const path of ['usr', 'usr/lib']) {
    assert.equal(at(root, path).stat().mtimNs, at(lower.root(), path).stat().mtimNs);
  }
  assert.equal(at(root, 'usr/lib').stat().atimNs, before.atimNs);
  assert.equal(at(root, 'usr/lib/libc.so').stat().mtimNs, at(lower.root(), 'usr/lib/libc.so').stat().mtimNs);
});
