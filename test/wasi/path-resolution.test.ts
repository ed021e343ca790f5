/** Paths never leave their directory descriptor, on every file system. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { FILE_SYSTEMS } from './helpers/filesystems.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';

const O_CREAT = 1;
const O_DIRECTORY = 2;

for (const { name, make } of FILE_SYSTEMS) {
  describe(`path resolution on ${name}`, () => {
    /** Runs `body` with the fixture preopened at '/sandbox' and a tree: dir/, dir/sub/, file. */
    function withTree(body: (g: Guest) => void): void {
      const fixture = make();
      try {
        const g = new Guest({ preopens: [{ guestPath: '/sandbox', fs: fixture.fs }] });
        g.run(() => {
          assert.equal(g.pathCall('path_create_directory', ROOT, 'dir'), 0);
          assert.equal(g.pathCall('path_create_directory', ROOT, 'dir/sub'), 0);
          const [errno, fd] = g.open(ROOT, 'file', { oflags: O_CREAT });
          assert.equal(errno, 0);
          assert.deepEqual(g.write(fd, 'hello'), [0, 5]);
          body(g);
        });
      } finally {
        fixture.cleanup();
      }
    }

    const symlink = (g: Guest, target: string, path: string): number => {
      const [t, tl] = g.bytes(target);
      const [p, pl] = g.bytes(path);
      return g.call('path_symlink', t, tl, ROOT, p, pl);
    };

    test('.. inside the preopen works, beyond it is NOTCAPABLE', () =>
      withTree((g) => {
        assert.equal(g.open(ROOT, 'dir/sub/../../file')[0], 0);
        assert.equal(g.open(ROOT, 'dir/./sub/.././../file')[0], 0);
        assert.equal(g.open(ROOT, '..')[0], Errno.NOTCAPABLE);
        assert.equal(g.open(ROOT, 'dir/../../file')[0], Errno.NOTCAPABLE);
        assert.equal(g.open(ROOT, 'nonexistent/../../x')[0], Errno.NOENT);
      }));

    test('absolute paths are NOTCAPABLE', () =>
      withTree((g) => {
        assert.equal(g.open(ROOT, '/file')[0], Errno.NOTCAPABLE);
        assert.equal(g.open(ROOT, '/sandbox/file')[0], Errno.NOTCAPABLE);
      }));

    test('a directory opened below the preopen is a new boundary', () =>
      withTree((g) => {
        const [errno, dirFd] = g.open(ROOT, 'dir', { oflags: O_DIRECTORY });
        assert.equal(errno, 0);
        assert.equal(g.open(dirFd, 'sub', { oflags: O_DIRECTORY })[0], 0);
        assert.equal(g.open(dirFd, '../file')[0], Errno.NOTCAPABLE);
        assert.equal(g.open(dirFd, 'sub/../..')[0], Errno.NOTCAPABLE);
      }));

    test('symbolic links are followed inside, NOTCAPABLE when absolute or escaping', () =>
      withTree((g) => {
        assert.equal(symlink(g, 'file', 'rel'), 0);
        assert.equal(symlink(g, '../file', 'dir/up'), 0);
        assert.equal(symlink(g, '/etc/passwd', 'abs'), Errno.NOTCAPABLE);
        assert.equal(symlink(g, '../..', 'dir/escape'), 0);
        assert.equal(symlink(g, 'sub', 'dir/subdir'), 0);
        const [e1, fd] = g.open(ROOT, 'rel');
        assert.equal(e1, 0);
        assert.deepEqual(g.readFd(fd, 100), [0, 'hello']);
        assert.equal(g.open(ROOT, 'dir/up')[0], 0);
        assert.equal(g.open(ROOT, 'dir/subdir/../up')[0], 0);
        assert.equal(g.open(ROOT, 'dir/escape/x')[0], Errno.NOTCAPABLE);
        assert.equal(g.open(ROOT, 'dir/escape')[0], Errno.NOTCAPABLE);
      }));

    test('an absolute link already in the file system is NOTCAPABLE to follow', () => {
      const fixture = make();
      try {
        fixture.fs.root().symlink('abs', '/etc/passwd');
        fixture.fs.root().symlink('absdir', '/');
        const g = new Guest({ preopens: [{ guestPath: '/', fs: fixture.fs }] });
        g.run(() => {
          assert.equal(g.open(ROOT, 'abs')[0], Errno.NOTCAPABLE);
          assert.equal(g.open(ROOT, 'absdir/etc/passwd')[0], Errno.NOTCAPABLE);
          assert.equal(g.open(ROOT, 'abs', { lookup: 0 })[0], Errno.LOOP);
        });
      } finally {
        fixture.cleanup();
      }
    });

    test('a final symbolic link is not followed without SYMLINK_FOLLOW', () =>
      withTree((g) => {
        assert.equal(symlink(g, 'file', 'rel'), 0);
        assert.equal(g.open(ROOT, 'rel', { lookup: 0 })[0], Errno.LOOP);
        assert.equal(g.open(ROOT, 'rel', { lookup: 0, oflags: O_DIRECTORY })[0], Errno.NOTDIR);
        // The link itself can be stat'ed and removed.
        const stat = g.alloc(64);
        assert.equal(g.pathCall('path_filestat_get', ROOT, '', 0), Errno.NOENT);
        const [p, l] = g.bytes('rel');
        assert.equal(g.call('path_filestat_get', ROOT, 0, p, l, stat), 0);
        assert.equal(g.view.getUint8(stat + 16), 7);
        assert.equal(g.call('path_filestat_get', ROOT, 1, p, l, stat), 0);
        assert.equal(g.view.getUint8(stat + 16), 4);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'rel'), 0);
        assert.equal(g.open(ROOT, 'file')[0], 0);
      }));

    test('symbolic link loops give LOOP', () =>
      withTree((g) => {
        assert.equal(symlink(g, 'b', 'a'), 0);
        assert.equal(symlink(g, 'a', 'b'), 0);
        assert.equal(symlink(g, 'self/x', 'self'), 0);
        assert.equal(g.open(ROOT, 'a')[0], Errno.LOOP);
        assert.equal(g.open(ROOT, 'self')[0], Errno.LOOP);
      }));

    test('trailing slashes need a directory', () =>
      withTree((g) => {
        assert.equal(g.open(ROOT, 'file/')[0], Errno.NOTDIR);
        assert.equal(g.open(ROOT, 'file/.')[0], Errno.NOTDIR);
        assert.equal(g.open(ROOT, 'dir/')[0], 0);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'file/'), Errno.NOTDIR);
        assert.equal(g.pathCall('path_create_directory', ROOT, 'newdir/'), 0);
        assert.equal(g.open(ROOT, 'newfile/', { oflags: O_CREAT })[0], Errno.ISDIR);
      }));

    test('NUL bytes are INVAL, invalid UTF-8 is ILSEQ, empty paths NOENT', () =>
      withTree((g) => {
        assert.equal(g.open(ROOT, 'fi\0le')[0], Errno.INVAL);
        const [p, l] = g.bytes(new Uint8Array([0x66, 0xff, 0x66]));
        const out = g.alloc(4);
        assert.equal(g.call('path_open', ROOT, 1, p, l, 0, 0n, 0n, 0, out), Errno.ILSEQ);
        assert.equal(g.open(ROOT, '')[0], Errno.NOENT);
      }));

    test('path calls on a file descriptor are NOTDIR, on a closed one BADF', () =>
      withTree((g) => {
        const [, fd] = g.open(ROOT, 'file');
        assert.equal(g.open(fd, 'x')[0], Errno.NOTDIR);
        assert.equal(g.open(99, 'x')[0], Errno.BADF);
      }));
  });
}
