/**
 * The enclave's cache of host-directory answers (vfs/hostdir-cache.ts), over the real host-call
 * server and ring, with a clock the test moves: a repeated fstat, lookup or small read within the
 * window is answered without a host call; the program's own changes show at once; another
 * process's changes show once the window has passed, or at once after the program changes the
 * directory (as taking a lock file or lock directory does); the contents of an open file are read
 * once in whole blocks, follow the program's own writes through every handle, and are dropped when
 * the host's stat shows another process changed the file; and a kept answer of a lying host is
 * refused on every use, as a fresh one is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno } from '../../src/interface/errno.ts';
import type { HostDirCalls, HostStat } from '../../src/interface/services.ts';
import {
  CachedHostDirCalls,
  HOST_DIR_CACHE_MS,
  HostDirWriteError,
} from '../../src/enclave/vfs/hostdir-cache.ts';
import { WasiError } from '../../src/interface/errno.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';
import { realHostDirFs } from './helpers/host-server.ts';

interface Setup {
  g: Guest;
  dir: string;
  /** Host calls made so far, by method name. */
  calls: Map<string, number>;
  /** Moves the cache's clock on by `ms`. */
  advance(ms: number): void;
  cache: CachedHostDirCalls;
}

/** Runs `body` over a temporary host directory holding `f` ("0123456789"), cached, counting host calls. */
function withCache(body: (s: Setup) => void, lie: Partial<HostDirCalls> = {}): void {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-hostcache-'));
  let stop = (): void => {};
  try {
    writeFileSync(join(dir, 'f'), '0123456789');
    const calls = new Map<string, number>();
    let now = 1000;
    let cache: CachedHostDirCalls | undefined;
    const host = realHostDirFs(dir, (honest) => {
      const counted = new Proxy(honest, {
        get: (target, prop: string) => {
          const value = (lie as Record<string, unknown>)[prop] ?? (Reflect.get(target, prop) as unknown);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            calls.set(prop, (calls.get(prop) ?? 0) + 1);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      cache = new CachedHostDirCalls(counted, HOST_DIR_CACHE_MS, () => now);
      return cache;
    });
    stop = host.stop;
    const g = new Guest({ preopens: [{ guestPath: '/', fs: host.fs }], pages: 8 });
    g.run(() => body({ g, dir, calls, advance: (ms) => (now += ms), cache: cache! }));
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sizeOf = (g: Guest, fd: number): bigint => {
  const buf = g.alloc(64);
  assert.equal(g.call('fd_filestat_get', fd, buf), 0);
  return g.u64(buf + 32);
};

const pathStat = (g: Guest, path: string): number => {
  const [p, l] = g.bytes(path);
  return g.call('path_filestat_get', ROOT, 0, p, l, g.alloc(64));
};

const pread = (g: Guest, fd: number, offset: number, length: number): string => {
  const buf = g.alloc(length);
  const iov = g.alloc(8);
  const out = g.alloc(4);
  new DataView(g.memory.buffer).setUint32(iov, buf, true);
  new DataView(g.memory.buffer).setUint32(iov + 4, length, true);
  assert.equal(g.call('fd_pread', fd, iov, 1, BigInt(offset), out), 0);
  return new TextDecoder().decode(g.read(buf, g.u32(out)));
};

test('repeated fstat, lookups (also of a missing entry) and small reads ask the host once per window', () =>
  withCache(({ g, calls, advance }) => {
    const [, fd] = g.open(ROOT, 'f');
    for (let i = 0; i < 50; i++) {
      assert.equal(sizeOf(g, fd), 10n);
      assert.equal(pathStat(g, 'f-journal'), Errno.NOENT);
      assert.equal(pathStat(g, 'f'), 0);
      assert.equal(pread(g, fd, 2, 4), '2345');
    }
    assert.equal(calls.get('fstat'), 1);
    assert.equal(calls.get('pread'), 1);
    const lookups = calls.get('lookup')!;
    assert.ok(lookups <= 3, `${lookups} lookups`);
    advance(HOST_DIR_CACHE_MS);
    assert.equal(sizeOf(g, fd), 10n);
    assert.equal(pathStat(g, 'f-journal'), Errno.NOENT);
    assert.equal(pread(g, fd, 2, 4), '2345');
    // The file's kept contents are checked against a fresh fstat; unchanged, they are not read again.
    assert.equal(calls.get('fstat'), 2);
    assert.equal(calls.get('pread'), 1);
    assert.ok(calls.get('lookup')! > lookups);
  }));

test('pages of an open file are read from the host once, in whole blocks, until another process changes it', () =>
  withCache(({ g, dir, calls, advance }) => {
    writeFileSync(join(dir, 'db'), Buffer.alloc(3 * 4096, 'a'));
    const [, fd] = g.open(ROOT, 'db');
    for (let i = 0; i < 20; i++) {
      assert.equal(pread(g, fd, 4096, 16), 'a'.repeat(16));
      assert.equal(pread(g, fd, 4096 + 24, 16), 'a'.repeat(16));
      assert.equal(pread(g, fd, 3 * 4096 - 8, 100), 'a'.repeat(8));
    }
    assert.equal(calls.get('pread'), 2);
    writeFileSync(join(dir, 'db'), Buffer.alloc(3 * 4096, 'b'));
    // Within the window the old contents may still be read ...
    assert.equal(pread(g, fd, 4096, 4), 'aaaa');
    // ... after it, the host's stat shows the change and they are read again.
    advance(HOST_DIR_CACHE_MS);
    assert.equal(pread(g, fd, 4096, 4), 'bbbb');
    assert.equal(calls.get('pread'), 3);
  }));

test("the program's writes show at once through every handle on the file, past its end too", () =>
  withCache(({ g, calls }) => {
    const [, a] = g.open(ROOT, 'f');
    const [, b] = g.open(ROOT, 'f');
    assert.equal(pread(g, a, 0, 20), '0123456789');
    assert.equal(pread(g, b, 0, 20), '0123456789');
    const before = calls.get('pread');
    assert.equal(g.call('fd_seek', a, 12n, 0, g.alloc(8)), 0);
    assert.deepEqual(g.write(a, 'xy'), [0, 2]);
    assert.equal(pread(g, b, 0, 20), '0123456789\0\0xy');
    assert.deepEqual(g.write(b, 'AB'), [0, 2]);
    assert.equal(g.call('fd_filestat_set_size', a, 3n), 0);
    assert.equal(pread(g, b, 0, 20), 'AB2');
    assert.equal(pread(g, a, 0, 20), 'AB2');
    assert.equal(sizeOf(g, b), 3n);
    assert.ok(calls.get('pread')! - before! <= 1, 'the shared blocks answer');
  }));

test('a lock taken by the program checks kept contents against the host before their next use', () =>
  withCache(({ g, dir, calls }) => {
    const [, fd] = g.open(ROOT, 'f');
    assert.equal(pread(g, fd, 0, 4), '0123');
    writeFileSync(join(dir, 'f'), 'locked change');
    assert.equal(pread(g, fd, 0, 4), '0123');
    assert.equal(g.pathCall('path_create_directory', ROOT, 'f.lock'), 0);
    assert.equal(pread(g, fd, 0, 6), 'locked');
    assert.equal(calls.get('pread'), 2);
    // Unchanged by anyone, they stay: one fstat after the next lock (an exclusive create), no read.
    const stats = calls.get('fstat')!;
    const [e] = g.open(ROOT, 'f.lockfile', { oflags: 1 | 4 });
    assert.equal(e, 0);
    assert.equal(pread(g, fd, 0, 6), 'locked');
    assert.equal(calls.get('pread'), 2);
    assert.ok(calls.get('fstat')! > stats);
  }));

test('a lock drops at once the kept contents of a file the program wrote since they were checked', () =>
  withCache(({ g, dir, calls }) => {
    const [, fd] = g.open(ROOT, 'f');
    assert.equal(pread(g, fd, 0, 4), '0123');
    assert.deepEqual(g.write(fd, 'ab'), [0, 2]);
    // Another process writes the file too, keeping its size: the host's stat alone could not tell
    // whose change it is.
    assert.equal(g.call('fd_sync', fd), 0);
    writeFileSync(join(dir, 'f'), 'XYZ3456789');
    assert.equal(g.pathCall('path_create_directory', ROOT, 'f.lock'), 0);
    assert.equal(pread(g, fd, 0, 4), 'XYZ3');
    assert.equal(calls.get('pread'), 2);
  }));

test('a read answer longer than asked is refused every time and never kept', () => {
  const lie: Partial<HostDirCalls> = { pread: (): Uint8Array => new Uint8Array(2 * 4096 + 1) };
  withCache(({ g, calls }) => {
    const [, fd] = g.open(ROOT, 'f');
    for (let i = 0; i < 3; i++) {
      const iov = g.alloc(8);
      const buf = g.alloc(4);
      g.view.setUint32(iov, buf, true);
      g.view.setUint32(iov + 4, 4, true);
      assert.equal(g.call('fd_pread', fd, iov, 1, 0n, g.alloc(4)), Errno.IO);
    }
    assert.equal(calls.get('pread'), 3);
  }, lie);
});

test('a host whose stat turns hostile after contents were kept: each stat is refused, reads go back to the host', () => {
  let statCalls = 0;
  const lie: Partial<HostDirCalls> = {};
  withCache(({ g, calls, advance }) => {
    const [, fd] = g.open(ROOT, 'f');
    assert.equal(pread(g, fd, 0, 4), '0123');
    lie.fstat = (): HostStat => {
      statCalls++;
      return { filetype: 4, dev: 9n, ino: 9n, nlink: 1n, size: -1n, atimNs: 0n, mtimNs: 0n, ctimNs: 0n };
    };
    advance(HOST_DIR_CACHE_MS);
    assert.equal(pread(g, fd, 0, 4), '0123');
    assert.equal(calls.get('pread'), 2);
    for (let i = 0; i < 3; i++) assert.equal(g.call('fd_filestat_get', fd, g.alloc(64)), Errno.IO);
    assert.equal(statCalls, 1);
  }, lie);
});

test("the program's own writes, creates and removes show at once", () =>
  withCache(({ g }) => {
    const [, fd] = g.open(ROOT, 'f');
    assert.equal(sizeOf(g, fd), 10n);
    assert.equal(pread(g, fd, 0, 4), '0123');
    assert.equal(pathStat(g, 'new'), Errno.NOENT);
    assert.deepEqual(g.write(fd, 'abcdefghijklmnop'), [0, 16]);
    assert.equal(sizeOf(g, fd), 16n);
    assert.equal(pread(g, fd, 0, 4), 'abcd');
    const [e] = g.open(ROOT, 'new', { oflags: 1 });
    assert.equal(e, 0);
    assert.equal(pathStat(g, 'new'), 0);
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'new'), 0);
    assert.equal(pathStat(g, 'new'), Errno.NOENT);
  }));

test("another process's changes show after the window, or at once when the program takes a lock", () =>
  withCache(({ g, dir, advance }) => {
    const [, fd] = g.open(ROOT, 'f');
    assert.equal(sizeOf(g, fd), 10n);
    assert.equal(pathStat(g, 'other'), Errno.NOENT);
    writeFileSync(join(dir, 'f'), 'changed by another process');
    writeFileSync(join(dir, 'other'), 'x');
    // Within the window the old answers may still be given ...
    assert.equal(sizeOf(g, fd), 10n);
    assert.equal(pathStat(g, 'other'), Errno.NOENT);
    // ... and a lock directory taken by the program ends them.
    assert.equal(g.pathCall('path_create_directory', ROOT, 'f.lock'), 0);
    assert.equal(sizeOf(g, fd), 26n);
    assert.equal(pathStat(g, 'other'), 0);
    writeFileSync(join(dir, 'f'), 'short');
    assert.equal(sizeOf(g, fd), 26n);
    advance(HOST_DIR_CACHE_MS);
    assert.equal(sizeOf(g, fd), 5n);
  }));

test('a kept answer of a lying host is refused on every use', () => {
  const lie: Partial<HostDirCalls> = {
    fstat: (): HostStat => ({
      filetype: 4,
      dev: 1n,
      ino: 1n,
      nlink: 1n,
      size: 1n << 60n,
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    }),
  };
  withCache(({ g, calls }) => {
    const [, fd] = g.open(ROOT, 'f');
    for (let i = 0; i < 3; i++) assert.equal(g.call('fd_filestat_get', fd, g.alloc(64)), Errno.IO);
    assert.equal(calls.get('fstat'), 1);
  }, lie);
});

test('writes made back to back go to the host as one call, before the next call of any kind', () =>
  withCache(({ g, dir, calls }) => {
    const [, fd] = g.open(ROOT, 'j', { oflags: 1 });
    for (let i = 0; i < 10; i++) assert.deepEqual(g.write(fd, `record ${i};`), [0, 9]);
    assert.equal(calls.get('startWrites') ?? 0, 0);
    assert.equal(sizeOf(g, fd), 90n);
    assert.equal(calls.get('startWrites'), 1);
    assert.equal(
      readFileSync(join(dir, 'j'), 'utf8'),
      Array.from({ length: 10 }, (_, i) => `record ${i};`).join(''),
    );
    // A write elsewhere in the file starts a new run; a sync sends it first.
    assert.equal(g.call('fd_seek', fd, 0n, 0, g.alloc(8)), 0);
    assert.deepEqual(g.write(fd, 'R'), [0, 1]);
    assert.equal(g.call('fd_sync', fd), 0);
    assert.equal(calls.get('startWrites'), 2);
    assert.equal(readFileSync(join(dir, 'j'), 'utf8').slice(0, 9), 'Record 0;');
    assert.equal(pread(g, fd, 0, 9), 'Record 0;');
  }));

test('a held write keeps the bytes it was given: the program reusing its buffer changes nothing sent', () =>
  withCache(({ g, dir, calls }) => {
    const [, fd] = g.open(ROOT, 'j', { oflags: 1 });
    const [p, l] = g.bytes('abc');
    const iov = g.alloc(8);
    g.view.setUint32(iov, p, true);
    g.view.setUint32(iov + 4, l, true);
    const buffer = new Uint8Array(g.memory.buffer, p, l);
    for (const next of ['def', 'ghi', '...']) {
      assert.equal(g.call('fd_write', fd, iov, 1, g.alloc(4)), 0);
      buffer.set(new TextEncoder().encode(next));
    }
    assert.equal(calls.get('startWrites') ?? 0, 0, 'the three writes are held');
    assert.equal(g.call('fd_sync', fd), 0);
    assert.equal(readFileSync(join(dir, 'j'), 'utf8'), 'abcdefghi');
    assert.equal(pread(g, fd, 0, 9), 'abcdefghi');
  }));

test('held writes go to the host without waiting: their replies are taken by the next call that reports one', () => {
  const lie: Partial<HostDirCalls> = {};
  const taken: string[] = [];
  withCache(({ g, dir }) => {
    const [, fd] = g.open(ROOT, 'j', { oflags: 1 });
    // Called with the honest host calls as `this`, as every lie is.
    lie.startWrites = function (this: HostDirCalls, writes) {
      const results = this.startWrites(writes);
      taken.push('sent');
      return () => {
        taken.push('taken');
        return results();
      };
    };
    assert.deepEqual(g.write(fd, 'abc'), [0, 3]);
    // Another call sends the held write before it, and does not wait for its reply.
    assert.equal(pathStat(g, 'f'), 0);
    assert.deepEqual(taken, ['sent']);
    assert.equal(readFileSync(join(dir, 'j'), 'utf8'), 'abc', 'the host made the write before the stat');
    assert.equal(g.call('fd_sync', fd), 0);
    assert.deepEqual(taken, ['sent', 'taken']);
  }, lie);
});

test('a held write the host fails is reported by the next call on its descriptor, once', () => {
  const lie: Partial<HostDirCalls> = {};
  withCache(({ g }) => {
    const [, fd] = g.open(ROOT, 'f', { oflags: 0 });
    lie.startWrites = (writes) => () => writes.map(() => new WasiError(Errno.NOSPC, 'disk full'));
    assert.deepEqual(g.write(fd, 'abc'), [0, 3]);
    assert.equal(g.call('fd_sync', fd), Errno.NOSPC);
    assert.equal(g.call('fd_sync', fd), 0);
    // What was kept of the file went with the failed write: the host's contents show again.
    assert.equal(pread(g, fd, 0, 4), '0123');
    assert.deepEqual(g.write(fd, 'xyz'), [0, 3]);
    assert.equal(g.call('fd_close', fd), Errno.NOSPC);
    assert.equal(g.call('fd_close', fd), Errno.BADF);
  }, lie);
});

test('a failed held write the program was never told of fails the end of the run', () => {
  const lie: Partial<HostDirCalls> = {};
  withCache(({ g, cache }) => {
    const [, fd] = g.open(ROOT, 'f');
    lie.startWrites = (writes) => () => writes.map(() => new WasiError(Errno.IO, 'host disk error'));
    assert.deepEqual(g.write(fd, 'abc'), [0, 3]);
    assert.throws(() => cache.finish(), HostDirWriteError);
    // Reported once: a second end has nothing left to report.
    cache.finish();
  }, lie);
});

test('scattered writes are held as runs and sent together; a failed one is reported on its own descriptor', () => {
  const lie: Partial<HostDirCalls> = {};
  withCache(({ g, dir, calls }) => {
    const [, a] = g.open(ROOT, 'a', { oflags: 1 });
    const [, b] = g.open(ROOT, 'b', { oflags: 1 });
    for (let i = 0; i < 4; i++) {
      assert.equal(g.call('fd_seek', a, BigInt(10 * i), 0, g.alloc(8)), 0);
      assert.deepEqual(g.write(a, `a${i}`), [0, 2]);
      assert.equal(g.call('fd_seek', b, BigInt(10 * i), 0, g.alloc(8)), 0);
      assert.deepEqual(g.write(b, `b${i}`), [0, 2]);
    }
    assert.equal(g.call('fd_sync', a), 0);
    assert.equal(calls.get('startWrites'), 1);
    assert.equal(calls.get('pwrite') ?? 0, 0);
    assert.equal(
      readFileSync(join(dir, 'a'), 'latin1'),
      'a0' + '\0'.repeat(8) + 'a1' + '\0'.repeat(8) + 'a2' + '\0'.repeat(8) + 'a3',
    );
    assert.equal(readFileSync(join(dir, 'b'), 'latin1').slice(30), 'b3');
    // The host fails the writes to `b` only.
    lie.startWrites = (writes) => {
      const results = writes.map((w) => (w.data[0] === 0x42 ? new WasiError(Errno.NOSPC) : w.data.length));
      return () => results;
    };
    assert.deepEqual(g.write(a, 'A'), [0, 1]);
    assert.deepEqual(g.write(b, 'B'), [0, 1]);
    assert.equal(g.call('fd_sync', a), 0);
    assert.equal(g.call('fd_sync', b), Errno.NOSPC);
    assert.equal(g.call('fd_sync', b), 0);
  }, lie);
});

test('interleaved writes to two files each stay one run; a write never overtakes an earlier one to the same file', () =>
  withCache(({ g, dir, calls }) => {
    const [, j] = g.open(ROOT, 'journal', { oflags: 1 });
    const [, d] = g.open(ROOT, 'db', { oflags: 1 });
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(g.write(j, `j${i}`), [0, 2]);
      assert.deepEqual(g.write(d, `d${i}`), [0, 2]);
    }
    assert.equal(g.call('fd_sync', d), 0);
    assert.equal(calls.get('startWrites'), 1);
    assert.equal(readFileSync(join(dir, 'journal'), 'utf8'), 'j0j1j2j3j4j5j6j7');
    assert.equal(readFileSync(join(dir, 'db'), 'utf8'), 'd0d1d2d3d4d5d6d7');
    // Two descriptors on one file: the second's write lies between the first's two.
    const [, a] = g.open(ROOT, 'f');
    const [, b] = g.open(ROOT, 'f');
    assert.deepEqual(g.write(a, 'AAAA'), [0, 4]);
    assert.equal(g.call('fd_seek', b, 2n, 0, g.alloc(8)), 0);
    assert.deepEqual(g.write(b, 'BBBB'), [0, 4]);
    assert.deepEqual(g.write(a, 'CCCC'), [0, 4]);
    assert.equal(pread(g, b, 0, 10), 'AABBCCCC89');
    assert.equal(g.call('fd_sync', a), 0);
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'AABBCCCC89');
  }));

test("a write forgets the kept answers about the file written only: its size shows at once, other names' stay kept", () =>
  withCache(({ g, calls }) => {
    const [, fd] = g.open(ROOT, 'f');
    const sizeByPath = (): bigint => {
      const [p, l] = g.bytes('f');
      const buf = g.alloc(64);
      assert.equal(g.call('path_filestat_get', ROOT, 0, p, l, buf), 0);
      return g.u64(buf + 32);
    };
    assert.equal(sizeByPath(), 10n);
    assert.equal(pathStat(g, 'f-journal'), Errno.NOENT);
    const lookups = calls.get('lookup')!;
    assert.equal(g.call('fd_seek', fd, 10n, 0, g.alloc(8)), 0);
    assert.deepEqual(g.write(fd, 'more'), [0, 4]);
    assert.equal(sizeOf(g, fd), 14n);
    assert.equal(sizeByPath(), 14n);
    assert.equal(pathStat(g, 'f-journal'), Errno.NOENT);
    assert.equal(calls.get('lookup'), lookups + 1);
  }));
