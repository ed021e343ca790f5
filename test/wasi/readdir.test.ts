/** fd_readdir: '.' and '..' first, cookies that resume, entries cut off at the buffer's end. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { FILE_SYSTEMS } from './helpers/filesystems.ts';
import { FIRST_PREOPEN as ROOT, Guest, parseDirents } from './helpers/guest.ts';

const O_CREAT = 1;
const O_DIRECTORY = 2;
const NAMES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];

for (const { name, make } of FILE_SYSTEMS) {
  describe(`fd_readdir on ${name}`, () => {
    function withDir(body: (g: Guest, dirFd: number) => void): void {
      const fixture = make();
      try {
        const g = new Guest({ preopens: [{ guestPath: '/', fs: fixture.fs }] });
        g.run(() => {
          assert.equal(g.pathCall('path_create_directory', ROOT, 'd'), 0);
          for (const n of NAMES) assert.equal(g.open(ROOT, `d/${n}`, { oflags: O_CREAT })[0], 0);
          assert.equal(g.pathCall('path_create_directory', ROOT, 'd/subdir'), 0);
          const [errno, fd] = g.open(ROOT, 'd', { oflags: O_DIRECTORY });
          assert.equal(errno, 0);
          body(g, fd);
        });
      } finally {
        fixture.cleanup();
      }
    }

    test('lists . and .. then every entry once, with types', () =>
      withDir((g, fd) => {
        const [errno, used, raw] = g.readdir(fd, 0n, 4096);
        assert.equal(errno, 0);
        assert.ok(used < 4096);
        const entries = parseDirents(raw);
        assert.deepEqual(
          entries.map((e) => e.name),
          ['.', '..', ...entries.slice(2).map((e) => e.name)],
        );
        assert.deepEqual(
          entries
            .slice(2)
            .map((e) => e.name)
            .sort(),
          [...NAMES, 'subdir'].sort(),
        );
        // WASI fixes the cookies of '.' and '..'; the file system's own are its choice.
        assert.deepEqual(
          entries.slice(0, 2).map((e) => e.next),
          [1n, 2n],
        );
        assert.equal(entries[0].type, 3);
        assert.equal(entries[1].type, 3);
        for (const e of entries.slice(2)) assert.equal(e.type, e.name === 'subdir' ? 3 : 4);
        // '.' is the directory itself.
        const stat = g.alloc(64);
        assert.equal(g.call('fd_filestat_get', fd, stat), 0);
        assert.equal(entries[0].ino, g.u64(stat + 8));
      }));

    test("resumes after any entry from that entry's cookie", () =>
      withDir((g, fd) => {
        const all = parseDirents(g.readdir(fd, 0n, 4096)[2]);
        all.forEach((entry, i) => {
          const rest = parseDirents(g.readdir(fd, entry.next, 4096)[2]);
          assert.deepEqual(
            rest.map((e) => e.name),
            all.slice(i + 1).map((e) => e.name),
          );
        });
      }));

    test('a full buffer cuts the last entry and reading on from its cookie loses nothing', () =>
      withDir((g, fd) => {
        const all = parseDirents(g.readdir(fd, 0n, 4096)[2]).map((e) => e.name);
        const seen: string[] = [];
        let cookie = 0n;
        for (let rounds = 0; rounds < 100; rounds++) {
          const [errno, used, raw] = g.readdir(fd, cookie, 40);
          assert.equal(errno, 0);
          const entries = parseDirents(raw);
          seen.push(...entries.map((e) => e.name));
          if (used < 40) break;
          assert.ok(entries.length > 0, 'a 40-byte buffer holds one short entry');
          cookie = entries[entries.length - 1].next;
        }
        assert.deepEqual(seen, all);
      }));

    test('removing entries while listing (as rm -r does) neither skips nor repeats the rest', () =>
      withDir((g, fd) => {
        for (let i = 0; i < 40; i++) assert.equal(g.open(ROOT, `d/extra-${i}`, { oflags: O_CREAT })[0], 0);
        const seen: string[] = [];
        let cookie = 0n;
        for (let rounds = 0; rounds < 100; rounds++) {
          const [errno, used, raw] = g.readdir(fd, cookie, 200);
          assert.equal(errno, 0);
          const entries = parseDirents(raw);
          for (const e of entries) {
            seen.push(e.name);
            if (e.name.startsWith('extra-')) {
              assert.equal(g.pathCall('path_unlink_file', ROOT, `d/${e.name}`), 0);
            }
          }
          if (used < 200) break;
          cookie = entries[entries.length - 1].next;
        }
        const extras = seen.filter((n) => n.startsWith('extra-'));
        assert.equal(extras.length, 40);
        assert.equal(new Set(extras).size, 40);
        assert.equal(seen.length, 2 + NAMES.length + 1 + 40);
      }));

    test('a cookie past the end gives an empty result; a file is NOTDIR; no rights is NOTCAPABLE', () =>
      withDir((g, fd) => {
        assert.deepEqual(g.readdir(fd, 1000n, 100).slice(0, 2), [0, 0]);
        const [, file] = g.open(ROOT, 'd/alpha');
        assert.equal(g.readdir(file, 0n, 100)[0], Errno.NOTDIR);
        assert.equal(g.readdir(1, 0n, 100)[0], Errno.BADF);
        assert.equal(g.call('fd_fdstat_set_rights', fd, 0n, 0n), 0);
        assert.equal(g.readdir(fd, 0n, 100)[0], Errno.NOTCAPABLE);
      }));
  });
}
