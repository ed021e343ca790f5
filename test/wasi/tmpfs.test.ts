/** tmpfs's own policies: a memory limit, and memory given back when a file is gone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { createTmpfs } from '../../src/enclave/vfs/index.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';

const O_CREAT = 1;

test('writes beyond maxBytes fail with NOSPC; unlinking (after the last close) frees the space', () => {
  const g = new Guest({ preopens: [{ guestPath: '/', fs: createTmpfs({ maxBytes: 64 * 1024 }) }], pages: 8 });
  g.run(() => {
    const chunk = new Uint8Array(16 * 1024).fill(1);
    const [, a] = g.open(ROOT, 'a', { oflags: O_CREAT });
    const [, b] = g.open(ROOT, 'b', { oflags: O_CREAT });
    for (const fd of [a, a, b, b]) assert.deepEqual(g.write(fd, chunk), [0, chunk.length]);
    assert.equal(g.write(b, chunk)[0], Errno.NOSPC);

    // Unlinked but still open: the space stays taken until the last close.
    assert.equal(g.pathCall('path_unlink_file', ROOT, 'a'), 0);
    assert.equal(g.write(b, chunk)[0], Errno.NOSPC);
    assert.equal(g.readFd(a, 4)[0], 0);
    assert.equal(g.call('fd_close', a), 0);
    assert.deepEqual(g.write(b, chunk), [0, chunk.length]);
    assert.deepEqual(g.write(b, chunk), [0, chunk.length]);
    assert.equal(g.write(b, chunk)[0], Errno.NOSPC);
  });
});

test('growth doubles the buffer but falls back to the exact size near the limit', () => {
  const g = new Guest({ preopens: [{ guestPath: '/', fs: createTmpfs({ maxBytes: 100_000 }) }] });
  g.run(() => {
    const [, f] = g.open(ROOT, 'f', { oflags: O_CREAT });
    assert.equal(g.call('fd_filestat_set_size', f, 60_000n), 0);
    assert.equal(g.call('fd_filestat_set_size', f, 99_000n), 0);
    assert.equal(g.call('fd_filestat_set_size', f, 100_001n), Errno.NOSPC);
  });
});
