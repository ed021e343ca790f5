/** Real programs on the overlay: the SQLite shell changing a database that ships in the read-only layer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverlayFs, createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { FileSystem } from '../../src/enclave/vfs/index.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { Ext4Fs, compileExt2fs } from '../../src/common/ext4/index.ts';
import { Ext4FileSystem } from '../../src/enclave/storage/ext4-vfs.ts';
import { realHostDirFs } from '../wasi/helpers/host-server.ts';
import { runWasm } from '../wasi/helpers/run.ts';
import { FrozenFs, at, frozenTree, names } from './helpers/layers.ts';

const SQLITE = '/work/shared/bench/sqlite3.wasm';
const CREATE = `
create table t(id integer primary key, name text);
insert into t(name) values ('alpha'), ('beta'), ('gamma');
`;
const UPDATE = `
insert into t(name) values ('delta');
update t set name = 'BETA' where name = 'beta';
.mode list
select group_concat(name, ',') from t;
`;
const QUERY = ".mode list\nselect group_concat(name, ',') from t;\n";

function sqlite(fs: FileSystem, script: string): string {
  const result = runWasm(SQLITE, {
    args: ['sqlite3', '-batch', '/data/app/test.db'],
    env: ['HOME=/data'],
    preopens: [{ guestPath: '/data', fs }],
    stdin: script,
  });
  assert.equal(result.exitCode, 0, result.stderr);
  assert.equal(result.stderr, '');
  return result.stdout;
}

/** Bytes of the database in a layer. */
function dbBytes(fs: FileSystem): Uint8Array {
  const handle = at(fs.root(), 'app/test.db').open({ write: false, truncate: false });
  const bytes = new Uint8Array(handle.size());
  handle.read(0, bytes);
  handle.close();
  return bytes;
}

/** Changes the shipped database through an overlay, twice, and checks that `lower` kept the original. */
function changeThroughOverlay(lower: FileSystem): void {
  const original = dbBytes(lower);
  const overlay = createOverlayFs(lower, createTmpfs());
  assert.match(sqlite(overlay, UPDATE), /^alpha,BETA,gamma,delta\n$/);
  assert.match(sqlite(overlay, "insert into t(name) values ('epsilon');\n" + QUERY), /,delta,epsilon\n$/);
  assert.deepEqual(dbBytes(lower), original, 'the shipped database is unchanged');
  // The journal came and went in upper; the directory shows the database and the lower extras once.
  assert.deepEqual(names(at(overlay.root(), 'app')).sort(), ['README', 'test.db']);
}

test('sqlite3 changes a database from a frozen tmpfs through the overlay; lower is never written', () => {
  const made = createTmpfs();
  made.root().mkdir('app').createFile('README', true);
  sqlite(made, CREATE);
  const lower = new FrozenFs(made);
  changeThroughOverlay(lower);
  assert.equal(lower.attempts, 0);
});

test('sqlite3 changes a database shipped in a read-only ext4 image (mke2fs -d) through the overlay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-overlay-'));
  try {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'app'), { recursive: true });
    writeFileSync(join(src, 'app/README'), 'shipped');
    const host = realHostDirFs(src);
    try {
      sqlite(host.fs, CREATE);
    } finally {
      host.stop();
    }
    const image = join(dir, 'root.img');
    const mkfs = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', src, image, '4096k'], {
      encoding: 'utf8',
    });
    assert.equal(mkfs.status, 0, mkfs.stderr);
    const ext2fs = compileExt2fs(readFileSync(new URL('../../src/common/ext4/ext2fs.wasm', import.meta.url)));
    const device = new MemoryBlockDevice(new Uint8Array(readFileSync(image)), 4096);
    changeThroughOverlay(new Ext4FileSystem(Ext4Fs.open(device, { wasm: ext2fs, readOnly: true }), true));
    assert.ok(readFileSync(image).equals(device.bytes), 'the image was never written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('speedtest1 --size 5 runs with its database in a directory of the lower layer', () => {
  const overlay = createOverlayFs(frozenTree({ app: { README: 'shipped' } }), createTmpfs());
  const result = runWasm('/work/shared/bench/speedtest1.wasm', {
    args: ['speedtest1', '--size', '5', '/data/app/speed.db'],
    preopens: [{ guestPath: '/data', fs: overlay }],
  });
  assert.equal(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /990 - ANALYZE/);
  assert.deepEqual(names(at(overlay.root(), 'app')).sort(), ['README', 'speed.db']);
});
