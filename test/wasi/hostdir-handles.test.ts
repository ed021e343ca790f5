/**
 * Host directory handles, through the real host-call server over the ring: a mount keeps a bounded
 * number open, a directory descriptor whose handle was closed is reopened only onto the same
 * directory, and one renamed meanwhile fails with STALE rather than reach whatever took its name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno } from '../../src/interface/errno.ts';
import { MAX_OPEN_DIRS } from '../../src/enclave/vfs/hostdir.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';
import { realHostDirFs } from './helpers/host-server.ts';

const DIRS = MAX_OPEN_DIRS + 50;
const openFds = (): number => readdirSync('/proc/self/fd').length;

test('a mount keeps at most MAX_OPEN_DIRS directory handles; a closed one reopens onto the same directory only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-handles-'));
  const host = realHostDirFs(dir);
  try {
    for (let i = 0; i < DIRS; i++) mkdirSync(join(dir, `d${i}`));
    writeFileSync(join(dir, 'd0', 'f'), 'zero');
    writeFileSync(join(dir, 'd1', 'f'), 'one');
    const g = new Guest({ preopens: [{ guestPath: '/', fs: host.fs }] });
    g.run(() => {
      const before = openFds();
      const [e0, d0] = g.open(ROOT, 'd0', { oflags: 2 });
      const [e1, d1] = g.open(ROOT, 'd1', { oflags: 2 });
      assert.deepEqual([e0, e1], [0, 0]);
      const touchAll = (): void => {
        for (let i = 2; i < DIRS; i++) assert.equal(g.open(ROOT, `d${i}/`, { oflags: 2 })[0], 0);
      };
      touchAll();
      assert.ok(openFds() - before <= MAX_OPEN_DIRS + 2, `${openFds() - before} host descriptors`);
      // d0's handle was closed: it reopens by name onto the same directory.
      const [ef, f] = g.open(d0, 'f');
      assert.equal(ef, 0);
      assert.deepEqual(g.readFd(f, 10), [0, 'zero']);
      // d1 is renamed and another directory takes its name; once its handle is closed it fails.
      g.pathCall('path_rename', ROOT, 'd1', ROOT, ...g.bytes('moved'));
      assert.equal(g.pathCall('path_create_directory', ROOT, 'd1'), 0);
      writeFileSync(join(dir, 'd1', 'f'), 'impostor');
      touchAll();
      assert.equal(g.open(d1, 'f')[0], Errno.STALE);
    });
  } finally {
    host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
