/** path_* calls that change the tree, with POSIX errnos, on every file system. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { FILE_SYSTEMS } from './helpers/filesystems.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';

const O_CREAT = 1;

for (const { name, make } of FILE_SYSTEMS) {
  describe(`path operations on ${name}`, () => {
    function withFs(body: (g: Guest) => void): void {
      const fixture = make();
      try {
        const g = new Guest({ preopens: [{ guestPath: '/', fs: fixture.fs }] });
        g.run(() => body(g));
      } finally {
        fixture.cleanup();
      }
    }
    const create = (g: Guest, path: string, content = ''): void => {
      const [errno, fd] = g.open(ROOT, path, { oflags: O_CREAT });
      assert.equal(errno, 0);
      if (content) g.write(fd, content);
      assert.equal(g.call('fd_close', fd), 0);
    };
    const content = (g: Guest, path: string): string => {
      const [errno, fd] = g.open(ROOT, path);
      assert.equal(errno, 0, `open ${path}`);
      return g.readFd(fd, 1000)[1];
    };
    const twoPaths = (g: Guest, call: string, a: string, b: string): number => {
      const [ap, al] = g.bytes(a);
      const [bp, bl] = g.bytes(b);
      return call === 'path_link'
        ? g.call(call, ROOT, 0, ap, al, ROOT, bp, bl)
        : g.call(call, ROOT, ap, al, ROOT, bp, bl);
    };
    const symlink = (g: Guest, target: string, path: string): number => {
      const [t, tl] = g.bytes(target);
      const [p, pl] = g.bytes(path);
      return g.call('path_symlink', t, tl, ROOT, p, pl);
    };

    test('create and remove directories', () =>
      withFs((g) => {
        assert.equal(g.pathCall('path_create_directory', ROOT, 'd'), 0);
        assert.equal(g.pathCall('path_create_directory', ROOT, 'd'), Errno.EXIST);
        assert.equal(g.pathCall('path_create_directory', ROOT, 'missing/d'), Errno.NOENT);
        create(g, 'd/f');
        assert.equal(g.pathCall('path_remove_directory', ROOT, 'd'), Errno.NOTEMPTY);
        assert.equal(g.pathCall('path_remove_directory', ROOT, 'd/f'), Errno.NOTDIR);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'd'), Errno.ISDIR);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'd/f'), 0);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'd/f'), Errno.NOENT);
        assert.equal(g.pathCall('path_remove_directory', ROOT, '.'), Errno.INVAL);
        assert.equal(g.pathCall('path_remove_directory', ROOT, 'd'), 0);
        assert.equal(g.open(ROOT, 'd')[0], Errno.NOENT);
      }));

    test('rename files and directories, replacing as POSIX does', () =>
      withFs((g) => {
        create(g, 'a', 'A');
        create(g, 'b', 'B');
        assert.equal(g.pathCall('path_create_directory', ROOT, 'd'), 0);
        assert.equal(g.pathCall('path_create_directory', ROOT, 'e'), 0);
        create(g, 'e/x');
        assert.equal(twoPaths(g, 'path_rename', 'a', 'b'), 0);
        assert.equal(content(g, 'b'), 'A');
        assert.equal(g.open(ROOT, 'a')[0], Errno.NOENT);
        assert.equal(twoPaths(g, 'path_rename', 'b', 'd/moved'), 0);
        assert.equal(content(g, 'd/moved'), 'A');
        assert.equal(twoPaths(g, 'path_rename', 'd/moved', 'e'), Errno.ISDIR);
        assert.equal(twoPaths(g, 'path_rename', 'd', 'd/moved'), Errno.NOTDIR);
        assert.equal(twoPaths(g, 'path_rename', 'd', 'e'), Errno.NOTEMPTY);
        assert.equal(twoPaths(g, 'path_rename', 'missing', 'x'), Errno.NOENT);
        assert.equal(twoPaths(g, 'path_rename', 'd', 'renamed'), 0);
        assert.equal(content(g, 'renamed/moved'), 'A');
        assert.equal(twoPaths(g, 'path_rename', 'renamed/moved', '../x'), Errno.NOTCAPABLE);
      }));

    test('hard links share contents and count links', () =>
      withFs((g) => {
        create(g, 'f', 'shared');
        assert.equal(twoPaths(g, 'path_link', 'f', 'g'), 0);
        assert.equal(twoPaths(g, 'path_link', 'f', 'g'), Errno.EXIST);
        assert.equal(content(g, 'g'), 'shared');
        const stat = g.alloc(64);
        const [p, l] = g.bytes('g');
        assert.equal(g.call('path_filestat_get', ROOT, 0, p, l, stat), 0);
        assert.equal(g.u64(stat + 24), 2n);
        assert.equal(g.pathCall('path_create_directory', ROOT, 'd'), 0);
        assert.notEqual(twoPaths(g, 'path_link', 'd', 'd2'), 0);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'f'), 0);
        assert.equal(content(g, 'g'), 'shared');
      }));

    test('symlinks: readlink and its truncation, EXIST and INVAL', () =>
      withFs((g) => {
        assert.equal(symlink(g, 'some/target', 'l'), 0);
        assert.equal(symlink(g, 'x', 'l'), Errno.EXIST);
        const buf = g.alloc(64);
        const used = g.alloc(4);
        const [p, l] = g.bytes('l');
        assert.equal(g.call('path_readlink', ROOT, p, l, buf, 64, used), 0);
        assert.equal(new TextDecoder().decode(g.read(buf, g.u32(used))), 'some/target');
        assert.equal(g.call('path_readlink', ROOT, p, l, buf, 4, used), 0);
        assert.equal(g.u32(used), 4);
        assert.equal(new TextDecoder().decode(g.read(buf, 4)), 'some');
        create(g, 'f');
        const [fp, fl] = g.bytes('f');
        assert.equal(g.call('path_readlink', ROOT, fp, fl, buf, 64, used), Errno.INVAL);
        const [mp, ml] = g.bytes('missing');
        assert.equal(g.call('path_readlink', ROOT, mp, ml, buf, 64, used), Errno.NOENT);
        // A dangling link opens as NOENT, and O_CREAT through it makes the target.
        assert.equal(symlink(g, 'newfile', 'dangling'), 0);
        assert.equal(g.open(ROOT, 'dangling')[0], Errno.NOENT);
        assert.equal(g.open(ROOT, 'dangling', { oflags: O_CREAT })[0], 0);
        assert.equal(g.open(ROOT, 'newfile')[0], 0);
      }));

    test('removal never follows a final symbolic link, even with a trailing slash', () =>
      withFs((g) => {
        assert.equal(g.pathCall('path_create_directory', ROOT, 'target'), 0);
        assert.equal(symlink(g, 'target', 'link'), 0);
        assert.equal(g.pathCall('path_remove_directory', ROOT, 'link/'), Errno.NOTDIR);
        assert.equal(g.pathCall('path_remove_directory', ROOT, 'link'), Errno.NOTDIR);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'link/'), Errno.NOTDIR);
        assert.equal(twoPaths(g, 'path_rename', 'link/', 'other'), Errno.NOTDIR);
        assert.equal(g.open(ROOT, 'target', { oflags: 2 })[0], 0);
        assert.equal(twoPaths(g, 'path_rename', 'link', 'renamed-link'), 0);
        assert.equal(g.pathCall('path_unlink_file', ROOT, 'renamed-link'), 0);
        assert.equal(g.open(ROOT, 'target', { oflags: 2 })[0], 0);
      }));

    test('path_filestat_get reports type, size and link count', () =>
      withFs((g) => {
        create(g, 'f', '12345');
        const stat = g.alloc(64);
        const [p, l] = g.bytes('f');
        assert.equal(g.call('path_filestat_get', ROOT, 0, p, l, stat), 0);
        assert.equal(g.view.getUint8(stat + 16), 4);
        assert.equal(g.u64(stat + 32), 5n);
        assert.equal(g.u64(stat + 24), 1n);
        const [dp, dl] = g.bytes('.');
        assert.equal(g.call('path_filestat_get', ROOT, 0, dp, dl, stat), 0);
        assert.equal(g.view.getUint8(stat + 16), 3);
      }));
  });
}
