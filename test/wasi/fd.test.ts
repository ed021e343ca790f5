/** fd_* calls: rights, seeking, flags, times, sizes, renumbering and preopens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { createStaticFs, createTmpfs } from '../../src/enclave/vfs/index.ts';
import { ALL_RIGHTS, FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';

const O_CREAT = 1;
const O_DIRECTORY = 2;
const O_EXCL = 4;
const O_TRUNC = 8;
const FD_READ = 1n << 1n;
const FD_WRITE = 1n << 6n;
const FD_SEEK = 1n << 2n;
const FD_TELL = 1n << 5n;
const APPEND = 1;

function withTmpfs(body: (g: Guest) => void): void {
  const g = new Guest({ preopens: [{ guestPath: '/tmp', fs: createTmpfs() }] });
  assert.equal(g.run(body), 0);
}

function seek(g: Guest, fd: number, offset: bigint, whence: number): [number, bigint] {
  const out = g.alloc(8);
  const errno = g.call('fd_seek', fd, offset, whence, out);
  return [errno, g.u64(out)];
}

test('preopens: names, prestat, and BADF past the last', () => {
  const g = new Guest({
    preopens: [
      { guestPath: '/tmp', fs: createTmpfs() },
      { guestPath: '/dev/attestation', fs: createStaticFs({ mrenclave: new Uint8Array(32).fill(7) }) },
    ],
  });
  g.run(() => {
    const prestat = g.alloc(8);
    assert.equal(g.call('fd_prestat_get', 4, prestat), 0);
    assert.equal(g.u32(prestat), 0);
    assert.equal(g.u32(prestat + 4), '/dev/attestation'.length);
    const name = g.alloc(32);
    assert.equal(g.call('fd_prestat_dir_name', 4, name, 3), Errno.NAMETOOLONG);
    assert.equal(g.call('fd_prestat_dir_name', 4, name, 16), 0);
    assert.equal(new TextDecoder().decode(g.read(name, 16)), '/dev/attestation');
    assert.equal(g.call('fd_prestat_get', 5, prestat), Errno.BADF);
    assert.equal(g.call('fd_prestat_get', 1, prestat), Errno.BADF);
    // The static file system serves the measurement read-only.
    const [errno, fd] = g.open(4, 'mrenclave', { base: FD_READ });
    assert.equal(errno, 0);
    const [, data] = g.readFd(fd, 64);
    assert.equal(data.length, 32);
    assert.equal(g.open(4, 'mrenclave', { base: FD_WRITE })[0], Errno.ROFS);
    assert.equal(g.open(4, 'new', { oflags: O_CREAT })[0], Errno.ROFS);
    assert.equal(g.pathCall('path_create_directory', 4, 'x'), Errno.ROFS);
    assert.equal(g.pathCall('path_unlink_file', 4, 'mrenclave'), Errno.ROFS);
  });
});

test('read-only and write-only descriptors: BADF for the other direction', () =>
  withTmpfs((g) => {
    const [, w] = g.open(ROOT, 'f', { oflags: O_CREAT, base: FD_WRITE });
    assert.deepEqual(g.write(w, 'abc'), [0, 3]);
    assert.equal(g.readFd(w, 10)[0], Errno.BADF);
    const [, r] = g.open(ROOT, 'f', { base: FD_READ });
    assert.deepEqual(g.readFd(r, 10), [0, 'abc']);
    assert.equal(g.write(r, 'x')[0], Errno.BADF);
    assert.equal(g.readFd(r, 10)[1], '');
  }));

test('rights: asking for more than the directory passes on is NOTCAPABLE; set_rights only shrinks', () =>
  withTmpfs((g) => {
    const [errno, dir] = g.open(ROOT, '.', { oflags: O_DIRECTORY, inheriting: FD_READ });
    assert.equal(errno, 0);
    assert.equal(g.open(dir, 'f', { oflags: O_CREAT, base: FD_READ, inheriting: 0n })[0], 0);
    assert.equal(g.open(dir, 'f', { base: FD_READ | FD_WRITE, inheriting: 0n })[0], Errno.NOTCAPABLE);
    const [, f] = g.open(ROOT, 'f', { base: FD_READ | FD_SEEK | FD_TELL });
    assert.equal(g.call('fd_fdstat_set_rights', f, FD_READ | FD_TELL, 0n), 0);
    assert.equal(seek(g, f, 1n, 0)[0], Errno.NOTCAPABLE);
    assert.deepEqual(seek(g, f, 0n, 1), [0, 0n]);
    assert.equal(g.call('fd_fdstat_set_rights', f, FD_READ | FD_SEEK, 0n), Errno.NOTCAPABLE);
    const fdstat = g.alloc(24);
    assert.equal(g.call('fd_fdstat_get', f, fdstat), 0);
    assert.equal(g.view.getUint8(fdstat), 4);
    assert.equal(g.u64(fdstat + 8), FD_READ | FD_TELL);
    assert.equal(g.u64(fdstat + 16), 0n);
  }));

test('fd_seek: SET/CUR/END, negative results INVAL, directories BADF, the console SPIPE', () =>
  withTmpfs((g) => {
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT });
    g.write(f, '0123456789');
    assert.deepEqual(seek(g, f, 2n, 0), [0, 2n]);
    assert.deepEqual(seek(g, f, 3n, 1), [0, 5n]);
    assert.deepEqual(g.readFd(f, 2), [0, '56']);
    assert.deepEqual(seek(g, f, -1n, 2), [0, 9n]);
    assert.equal(seek(g, f, -100n, 1)[0], Errno.INVAL);
    assert.equal(seek(g, f, 0n, 7)[0], Errno.INVAL);
    const tell = g.alloc(8);
    assert.equal(g.call('fd_tell', f, tell), 0);
    assert.equal(g.u64(tell), 9n);
    // Seeking past the end and writing leaves a zero-filled hole.
    assert.deepEqual(seek(g, f, 12n, 0), [0, 12n]);
    g.write(f, 'x');
    seek(g, f, 9n, 0);
    assert.deepEqual(g.readFd(f, 10), [0, '9\0\0x']);
    assert.equal(seek(g, ROOT, 0n, 0)[0], Errno.BADF);
    assert.equal(seek(g, 1, 0n, 0)[0], Errno.SPIPE);
    assert.equal(seek(g, 42, 0n, 0)[0], Errno.BADF);
  }));

test('fd_pread / fd_pwrite leave the position alone; append mode writes at the end', () =>
  withTmpfs((g) => {
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT });
    g.write(f, 'hello world');
    const [p, l] = g.bytes('HELLO');
    const iov = g.alloc(8);
    g.view.setUint32(iov, p, true);
    g.view.setUint32(iov + 4, l, true);
    const n = g.alloc(4);
    assert.equal(g.call('fd_pwrite', f, iov, 1, 0n, n), 0);
    assert.equal(g.u32(n), 5);
    const buf = g.alloc(5);
    g.view.setUint32(iov, buf, true);
    assert.equal(g.call('fd_pread', f, iov, 1, 6n, n), 0);
    assert.equal(new TextDecoder().decode(g.read(buf, g.u32(n))), 'world');
    assert.equal(seek(g, f, 0n, 1)[1], 11n);
    assert.equal(g.call('fd_pread', 1, iov, 1, 0n, n), Errno.SPIPE);
    assert.equal(g.call('fd_pread', ROOT, iov, 1, 0n, n), Errno.BADF);

    assert.equal(g.call('fd_fdstat_set_flags', f, APPEND), 0);
    seek(g, f, 0n, 0);
    g.write(f, '!');
    seek(g, f, 0n, 0);
    assert.deepEqual(g.readFd(f, 100), [0, 'HELLO world!']);
    const fdstat = g.alloc(24);
    g.call('fd_fdstat_get', f, fdstat);
    assert.equal(g.view.getUint16(fdstat + 2, true), APPEND);
    assert.equal(g.call('fd_fdstat_set_flags', f, 64), Errno.INVAL);
    // Opening with append set from the start.
    const [, a] = g.open(ROOT, 'f', { fdflags: APPEND });
    g.write(a, '?');
    assert.equal(seek(g, a, 0n, 1)[1], 13n);
  }));

test('path_open: CREAT, EXCL, TRUNC and DIRECTORY', () =>
  withTmpfs((g) => {
    assert.equal(g.open(ROOT, 'f')[0], Errno.NOENT);
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT | O_EXCL });
    g.write(f, 'data');
    assert.equal(g.open(ROOT, 'f', { oflags: O_CREAT | O_EXCL })[0], Errno.EXIST);
    assert.equal(g.open(ROOT, 'f', { oflags: O_DIRECTORY })[0], Errno.NOTDIR);
    assert.equal(g.open(ROOT, 'f', { oflags: O_CREAT | O_DIRECTORY })[0], Errno.INVAL);
    assert.equal(g.open(ROOT, '.', { oflags: O_CREAT })[0], Errno.ISDIR);
    assert.equal(g.open(ROOT, '.', { base: ALL_RIGHTS })[0], Errno.ISDIR);
    const [, t] = g.open(ROOT, 'f', { oflags: O_TRUNC });
    const stat = g.alloc(64);
    assert.equal(g.call('fd_filestat_get', t, stat), 0);
    assert.equal(g.u64(stat + 32), 0n);
  }));

test('fd_filestat_set_size and fd_allocate change the size; directories refuse', () =>
  withTmpfs((g) => {
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT });
    const stat = g.alloc(64);
    assert.equal(g.call('fd_filestat_set_size', f, 100n), 0);
    g.call('fd_filestat_get', f, stat);
    assert.equal(g.u64(stat + 32), 100n);
    assert.equal(g.call('fd_allocate', f, 50n, 100n), 0);
    g.call('fd_filestat_get', f, stat);
    assert.equal(g.u64(stat + 32), 150n);
    assert.equal(g.call('fd_filestat_set_size', f, 3n), 0);
    g.call('fd_filestat_get', f, stat);
    assert.equal(g.u64(stat + 32), 3n);
    assert.equal(g.call('fd_filestat_set_size', ROOT, 3n), Errno.ISDIR);
    assert.equal(g.call('fd_advise', f, 0n, 0n, 9), Errno.INVAL);
    assert.equal(g.call('fd_advise', f, 0n, 0n, 1), 0);
    assert.equal(g.call('fd_sync', f), 0);
    assert.equal(g.call('fd_datasync', f), 0);
  }));

test('set_times: explicit values, _NOW from the clock, contradictory flags INVAL', () => {
  const fixedNow = 1_700_000_000_123_456_789n;
  const clock = {
    realtimeNs: () => fixedNow,
    monotonicNs: () => process.hrtime.bigint(),
    resolutionNs: () => 1n,
  };
  const g = new Guest({ preopens: [{ guestPath: '/tmp', fs: createTmpfs() }], clock });
  g.run(() => {
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT });
    const stat = g.alloc(64);
    assert.equal(g.call('fd_filestat_set_times', f, 111n, 222n, 1 | 4), 0);
    g.call('fd_filestat_get', f, stat);
    assert.deepEqual([g.u64(stat + 40), g.u64(stat + 48)], [111n, 222n]);
    assert.equal(g.call('fd_filestat_set_times', f, 0n, 0n, 2), 0);
    g.call('fd_filestat_get', f, stat);
    assert.deepEqual([g.u64(stat + 40), g.u64(stat + 48)], [fixedNow, 222n]);
    const [p, l] = g.bytes('f');
    assert.equal(g.call('path_filestat_set_times', ROOT, 1, p, l, 5n, 0n, 1 | 8), 0);
    assert.equal(g.call('path_filestat_get', ROOT, 1, p, l, stat), 0);
    assert.deepEqual([g.u64(stat + 40), g.u64(stat + 48)], [5n, fixedNow]);
    assert.equal(g.call('fd_filestat_set_times', f, 0n, 0n, 1 | 2), Errno.INVAL);
    assert.equal(g.call('path_filestat_set_times', ROOT, 1, p, l, 0n, 0n, 4 | 8), Errno.INVAL);
  });
});

test('fd_renumber moves a descriptor over an open one; both must be open', () =>
  withTmpfs((g) => {
    const [, a] = g.open(ROOT, 'a', { oflags: O_CREAT });
    const [, b] = g.open(ROOT, 'b', { oflags: O_CREAT });
    g.write(a, 'from a');
    assert.equal(g.call('fd_renumber', a, b), 0);
    assert.equal(g.write(a, 'x')[0], Errno.BADF);
    assert.equal(seek(g, b, 0n, 1)[1], 6n);
    assert.equal(g.call('fd_renumber', b, 77), Errno.BADF);
    assert.equal(g.call('fd_renumber', 77, b), Errno.BADF);
    assert.equal(g.call('fd_renumber', b, b), 0);
    assert.equal(g.call('fd_close', b), 0);
    assert.equal(g.call('fd_close', b), Errno.BADF);
    // The lowest free number is reused.
    assert.equal(g.open(ROOT, 'a')[1], a);
  }));

test('the console: fdstat says character device without seek rights; stdout and stderr captured', () => {
  const g = new Guest();
  g.run(() => {
    const fdstat = g.alloc(24);
    assert.equal(g.call('fd_fdstat_get', 1, fdstat), 0);
    assert.equal(g.view.getUint8(fdstat), 2);
    assert.equal(g.u64(fdstat + 8) & (FD_SEEK | FD_TELL), 0n);
    assert.deepEqual(g.write(1, 'out'), [0, 3]);
    assert.deepEqual(g.write(2, 'err'), [0, 3]);
    assert.equal(g.write(0, 'in')[0], Errno.BADF);
    assert.equal(g.readFd(1, 3)[0], Errno.BADF);
  });
  const console = g.console as unknown as { stdout: string; stderr: string };
  assert.equal(console.stdout, 'out');
  assert.equal(console.stderr, 'err');
});
