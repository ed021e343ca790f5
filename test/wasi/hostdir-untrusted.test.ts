/**
 * hostdir treats the host as hostile: a host that lies about types, sizes, names, handles or
 * lengths gets EIO, never a malformed result inside the enclave. The host here is the real
 * host-call server over the real ring, with a scripted liar in front of the enclave's side that
 * changes only the answers a test names; everything else is the real handlers' work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno } from '../../src/interface/errno.ts';
import type { HostDirCalls, HostDirEntry, HostStat } from '../../src/interface/services.ts';
import type { RingHostDir } from '../../src/enclave/ring/host-services.ts';
import { FIRST_PREOPEN as ROOT, Guest, parseDirents } from './helpers/guest.ts';
import { realHostDirFs } from './helpers/host-server.ts';

/** Runs `body` over a real directory (a file `f` with "honest", a directory `d`) through `lie`. */
function withLyingHost(lie: (honest: RingHostDir) => Partial<HostDirCalls>, body: (g: Guest) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-liar-'));
  let stop = (): void => {};
  try {
    writeFileSync(join(dir, 'f'), 'honest');
    mkdirSync(join(dir, 'd'));
    const host = realHostDirFs(dir, (honest) => {
      const overrides = lie(honest as RingHostDir);
      return new Proxy(honest, {
        get: (target, prop) => {
          const override = overrides[prop as keyof HostDirCalls];
          if (override) return override;
          const value = Reflect.get(target, prop) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    });
    stop = host.stop;
    const g = new Guest({ preopens: [{ guestPath: '/', fs: host.fs }] });
    g.run(() => body(g));
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const stat = (g: Guest, path: string): number => {
  const [p, l] = g.bytes(path);
  return g.call('path_filestat_get', ROOT, 0, p, l, g.alloc(64));
};

const lookupWith = (honest: RingHostDir, patch: Partial<HostStat>): Partial<HostDirCalls> => ({
  lookup: (dir, name, held) => {
    const found = honest.lookup(dir, name, held);
    return name === 'f' ? { ...found, stat: { ...found.stat, ...patch } } : found;
  },
});

test('an honest host passes every check', () =>
  withLyingHost(
    () => ({}),
    (g) => {
      assert.equal(stat(g, 'f'), 0);
      const [, fd] = g.open(ROOT, 'f');
      assert.deepEqual(g.readFd(fd, 100), [0, 'honest']);
    },
  ));

test('an impossible file type, size or inode number is EIO', () => {
  for (const patch of [
    { filetype: 99 },
    { size: -1n },
    { size: 1n << 60n },
    { ino: -5n },
    { nlink: 2n ** 64n },
  ]) {
    withLyingHost(
      (honest) => lookupWith(honest, patch as Partial<HostStat>),
      (g) =>
        assert.equal(
          stat(g, 'f'),
          Errno.IO,
          JSON.stringify(patch, (_, v) => String(v)),
        ),
    );
  }
});

test('a file that turns into a symlink between lookups is not trusted', () =>
  withLyingHost(
    (honest) => {
      let calls = 0;
      return {
        lookup: (dir, name, held) => {
          const found = honest.lookup(dir, name, held);
          return name === 'f' && ++calls > 1 ? { ...found, stat: { ...found.stat, filetype: 7 } } : found;
        },
      };
    },
    (g) => assert.equal(stat(g, 'f'), Errno.STALE),
  ));

test('listings with bad names, duplicates or a wrong end marker are EIO', () => {
  const bad: HostDirEntry[][] = [
    [{ name: 'a/b', filetype: 4, ino: 1n }],
    [{ name: '..', filetype: 3, ino: 1n }],
    [{ name: 'x\0', filetype: 4, ino: 1n }],
    [{ name: '', filetype: 4, ino: 1n }],
    [
      { name: 'same', filetype: 4, ino: 1n },
      { name: 'same', filetype: 4, ino: 2n },
    ],
    [{ name: 'ok', filetype: 42, ino: 1n }],
  ];
  for (const entries of bad) {
    withLyingHost(
      () => ({ readdir: () => ({ entries, end: true }) }),
      (g) =>
        assert.equal(
          g.readdir(ROOT, 0n, 1000)[0],
          Errno.IO,
          JSON.stringify(entries, (_, v) => String(v)),
        ),
    );
  }
  // A host that never says "end" cannot make the enclave loop forever.
  withLyingHost(
    () => ({ readdir: () => ({ entries: [], end: false }) }),
    (g) => assert.equal(g.readdir(ROOT, 0n, 1000)[0], Errno.IO),
  );
  withLyingHost(
    (honest) => ({ readdir: (d, s, n) => honest.readdir(d, s, n) }),
    (g) => {
      const names = parseDirents(g.readdir(ROOT, 0n, 1000)[2]).map((e) => e.name);
      assert.deepEqual(names, ['.', '..', 'd', 'f']);
    },
  );
});

test('reads longer than asked, short write counts and bad link targets are EIO', () => {
  withLyingHost(
    () => ({ pread: (_h, _o, length) => new Uint8Array(length + 10) }),
    (g) => {
      const [, fd] = g.open(ROOT, 'f');
      assert.equal(g.readFd(fd, 4)[0], Errno.IO);
    },
  );
  withLyingHost(
    () => ({ pwrite: () => 1 }),
    (g) => {
      const [, fd] = g.open(ROOT, 'f');
      assert.equal(g.write(fd, 'abc')[0], Errno.IO);
    },
  );
  withLyingHost(
    (honest) => ({
      lookup: (dir, name, held) =>
        name === 'l'
          ? { stat: { ...honest.lookup(dir, 'f', null).stat, filetype: 7 }, dir: null }
          : honest.lookup(dir, name, held),
      readlink: () => 'x\0y',
    }),
    (g) => assert.equal(g.open(ROOT, 'l')[0], Errno.IO),
  );
});

test('a write is lent to the host calls for the call only: memory changed after it changes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-lent-'));
  let stop = (): void => {};
  try {
    const host = realHostDirFs(dir);
    stop = host.stop;
    const g = new Guest({ preopens: [{ guestPath: '/', fs: host.fs }] });
    g.run(() => {
      const [, fd] = g.open(ROOT, 'w', { oflags: 1 });
      const [p, l] = g.bytes('abc');
      const iov = g.alloc(8);
      g.view.setUint32(iov, p, true);
      g.view.setUint32(iov + 4, l, true);
      assert.equal(g.call('fd_write', fd, iov, 1, g.alloc(4)), 0);
      // The ring copied the bytes into its bounce buffer before the call returned.
      new Uint8Array(g.memory.buffer, p, l).set(new TextEncoder().encode('xyz'));
      assert.equal(readFileSync(join(dir, 'w'), 'utf8'), 'abc');
    });
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory without a handle, or a handle with a file, is EIO', () => {
  withLyingHost(
    (honest) => ({ lookup: (dir, name, held) => ({ ...honest.lookup(dir, name, held), dir: null }) }),
    (g) => assert.equal(stat(g, 'd'), Errno.IO),
  );
  withLyingHost(
    (honest) => ({
      lookup: (dir, name, held) => {
        const found = honest.lookup(dir, name, held);
        return name === 'f' ? { ...found, dir: honest.root(0) } : found;
      },
    }),
    (g) => assert.equal(g.open(ROOT, 'f')[0], Errno.IO),
  );
});
