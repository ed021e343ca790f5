// The ext4 mount's name cache must never answer differently from the directory itself: checked against
// an uncached view of the same file system after every step of a random sequence of changes
// (inode numbers of removed directories get reused, changes fail half-way with ENOTEMPTY or EEXIST).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ext4Fs } from '../../src/common/ext4/index.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { Ext4FileSystem } from '../../src/enclave/storage/ext4-vfs.ts';
import { Ext4NameCache } from '../../src/enclave/storage/ext4-names.ts';
import { FileType } from '../../src/interface/services.ts';
import { WasiError } from '../../src/interface/errno.ts';
import type { Inode } from '../../src/enclave/vfs/index.ts';
import { ext2fsModule, mkfs, scratchDir } from './helpers/image.ts';
import { requireTool } from './helpers/tools.ts';

const skip = requireTool('mke2fs');

function freshExt4(): Ext4Fs {
  const dir = scratchDir();
  try {
    const img = join(dir.path, 'names.img');
    mkfs(img, 8192);
    const device = new MemoryBlockDevice(new Uint8Array(readFileSync(img)), 4096);
    return Ext4Fs.open(device, { wasm: ext2fsModule, readOnly: false });
  } finally {
    dir.dispose();
  }
}

/** What every name of `names` is, in the root and in each directory among them, as `view` sees it. */
function tree(view: Ext4FileSystem, names: string[]): string[] {
  const seen: string[] = [];
  const describe = (dir: Inode, path: string): void => {
    for (const name of names) {
      const found = dir.lookup(name);
      seen.push(`${path}/${name}: ${found ? `${found.stat().ino} type ${found.filetype}` : 'none'}`);
      if (found?.filetype === FileType.DIRECTORY && path === '') describe(found, `/${name}`);
    }
  };
  describe(view.root(), '');
  return seen;
}

test('the ext4 name cache agrees with the directories after every change', { skip }, () => {
  const ext4 = freshExt4();
  const cached = new Ext4FileSystem(ext4, false);
  const names = ['a', 'b', 'c'];
  // A fixed LCG: the same sequence every run, bounded in length.
  let x = 7;
  const pick = <T>(from: T[]): T => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return from[x % from.length];
  };
  const dirOf = (view: Ext4FileSystem): Inode => {
    const name = pick(['', ...names]);
    const dir = name === '' ? view.root() : view.root().lookup(name);
    return dir?.filetype === FileType.DIRECTORY ? dir : view.root();
  };
  const ops: ((view: Ext4FileSystem) => void)[] = [
    (v) => dirOf(v).mkdir(pick(names)),
    (v) => dirOf(v).createFile(pick(names), true),
    (v) => dirOf(v).symlink(pick(names), 'target'),
    (v) => dirOf(v).unlink(pick(names)),
    (v) => dirOf(v).rmdir(pick(names)),
    (v) => dirOf(v).rename(pick(names), dirOf(v), pick(names)),
    (v) => {
      const target = dirOf(v).lookup(pick(names));
      if (target) dirOf(v).link(pick(names), target);
    },
  ];
  let failures = 0;
  for (let step = 0; step < 400; step++) {
    try {
      pick(ops)(cached);
    } catch (error) {
      if (!(error instanceof WasiError)) throw error;
      failures++;
    }
    // A new view has an empty cache: every lookup of it asks libext2fs.
    assert.deepEqual(tree(cached, names), tree(new Ext4FileSystem(ext4, false), names), `step ${step}`);
  }
  assert.ok(failures > 20 && failures < 380, `both outcomes exercised (${failures} of 400 failed)`);
});

test('a removed directory whose inode number comes back is not seen through stale names', { skip }, () => {
  const ext4 = freshExt4();
  const fs = new Ext4FileSystem(ext4, false);
  const root = fs.root();
  const first = root.mkdir('d');
  first.createFile('inside', true);
  assert.ok(root.lookup('d')?.lookup('inside'));
  assert.throws(() => root.rmdir('d'), WasiError); // not empty: nothing may be forgotten wrongly
  first.unlink('inside');
  root.rmdir('d');
  const again = root.mkdir('e');
  assert.equal(again.stat().ino, first.stat().ino, 'libext2fs reuses the freed inode number');
  assert.equal(again.lookup('inside'), null);
  assert.equal(root.lookup('d'), null);
});

test('a name looked up once is not searched for again, absent names included', { skip }, () => {
  const ext4 = freshExt4();
  const fs = new Ext4FileSystem(ext4, false);
  fs.root().mkdir('data').createFile('db', true);
  let searches = 0;
  const lookupIn = ext4.lookupIn.bind(ext4);
  ext4.lookupIn = (dir, name) => {
    searches++;
    return lookupIn(dir, name);
  };
  for (let i = 0; i < 10; i++) {
    assert.ok(fs.root().lookup('data')?.lookup('db'));
    assert.equal(fs.root().lookup('data')?.lookup('db-journal'), null);
  }
  assert.equal(searches, 1, 'created names are known without a search, the absent one searched once');
  fs.root().lookup('data')?.unlink('db');
  assert.equal(fs.root().lookup('data')?.lookup('db'), null);
  assert.equal(searches, 1, 'a removed name is known to be absent');
});

test('the name cache stays within its limit', () => {
  const cache = new Ext4NameCache(10);
  for (let i = 0; i < 100; i++) cache.set(i % 7, `n${i}`, { ino: i, filetype: FileType.REGULAR_FILE });
  assert.ok(cache.size <= 10);
  cache.set(1, 'kept', null);
  assert.equal(cache.get(1, 'kept'), null);
  assert.equal(cache.get(1, 'other'), undefined);
  cache.forgetDirectory(1);
  assert.equal(cache.get(1, 'kept'), undefined);
});
