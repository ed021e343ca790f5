import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockDevice } from '../../src/common/blockdev/types.ts';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { formatVerityFile } from '../../src/image/verity-format.ts';
import { fileDevice, pattern, tempDir } from './helpers/files.ts';
import { requireTool, run } from './helpers/tools.ts';

const dir = tempDir();

function rootHashOf(output: string): string {
  const m = /Root hash:\s+([0-9a-f]{64})/.exec(output);
  assert.ok(m, `no root hash in: ${output}`);
  return m[1];
}

function readAll(dev: BlockDevice) {
  const out = new Uint8Array(dev.blockCount * dev.blockSize);
  for (let b = 0; b < dev.blockCount; b += 16) {
    const n = Math.min(16, dev.blockCount - b);
    dev.readInto(b, out.subarray(b * dev.blockSize, (b + n) * dev.blockSize));
  }
  return out;
}

const cases: { name: string; size: number; args: string[] }[] = [
  { name: 'defaults (4 KiB blocks, random salt)', size: 1 << 20, args: [] },
  { name: 'no salt', size: 1 << 20, args: ['--salt', '-'] },
  {
    name: '512-byte blocks, 3 levels, 256-byte salt',
    size: 1 << 20,
    args: ['--data-block-size', '512', '--hash-block-size', '512', '--salt', 'ab'.repeat(256)],
  },
  {
    name: '1 KiB data / 2 KiB hash blocks',
    size: 3 * 4096 * 7,
    args: ['--data-block-size', '1024', '--hash-block-size', '2048'],
  },
  { name: 'a single data block (no levels)', size: 4096, args: [] },
];

for (const c of cases) {
  test(`opens a tree made by veritysetup format: ${c.name}`, (t) => {
    if (!requireTool(t, 'veritysetup')) return;
    const data = join(dir, 'vs-data.img');
    const hash = join(dir, 'vs-hash.img');
    const content = pattern(c.size, c.size + c.args.length);
    writeFileSync(data, content);
    const root = rootHashOf(run('veritysetup', ['format', ...c.args, data, hash]));
    const dev = openVerity({ data: fileDevice(data), hash: fileDevice(hash), rootHash: root });
    assert.deepEqual(readAll(dev), content);
  });
}

test('opens a tree veritysetup appended at --hash-offset in the same file', (t) => {
  if (!requireTool(t, 'veritysetup')) return;
  const img = join(dir, 'vs-same.img');
  const content = pattern(1 << 20, 7);
  const image = new Uint8Array((1 << 20) + (1 << 16));
  image.set(content);
  writeFileSync(img, image);
  const offset = String(1 << 20);
  const root = rootHashOf(
    run('veritysetup', ['format', '--hash-offset', offset, '--data-blocks', '256', img, img]),
  );
  const dev = openVerity({
    data: fileDevice(img),
    rootHash: root,
    hashOffset: 1 << 20,
    expect: { dataBlocks: 256 },
  });
  assert.deepEqual(readAll(dev), content);
});

test('opens a tree at a --hash-offset that is not hash-block aligned', (t) => {
  if (!requireTool(t, 'veritysetup')) return;
  const img = join(dir, 'vs-odd.img');
  const content = pattern(1 << 20, 8);
  const image = new Uint8Array((1 << 20) + (1 << 16));
  image.set(content);
  writeFileSync(img, image);
  const offset = (1 << 20) + 512;
  const root = rootHashOf(
    run('veritysetup', ['format', '--hash-offset', String(offset), '--data-blocks', '256', img, img]),
  );
  const dev = openVerity({
    data: fileDevice(img),
    rootHash: root,
    hashOffset: offset,
    expect: { dataBlocks: 256 },
  });
  assert.equal(dev.layout.levelStart[0], 258); // superblock at 1 MiB + 512, tree from the next 4 KiB block
  assert.deepEqual(readAll(dev), content);
});

test('opens a --no-superblock tree with caller-given parameters', (t) => {
  if (!requireTool(t, 'veritysetup')) return;
  const data = join(dir, 'ns-data.img');
  const hash = join(dir, 'ns-hash.img');
  const content = pattern(300 * 4096, 3);
  writeFileSync(data, content);
  const salt = 'c0ffee'.repeat(8);
  const root = rootHashOf(run('veritysetup', ['format', '--no-superblock', '--salt', salt, data, hash]));
  const dev = openVerity({
    data: fileDevice(data),
    hash: fileDevice(hash),
    rootHash: root,
    params: { dataBlockSize: 4096, hashBlockSize: 4096, dataBlocks: 300, salt: Buffer.from(salt, 'hex') },
  });
  assert.deepEqual(readAll(dev), content);
});

test('veritysetup verify accepts our appended tree with our root hash', (t) => {
  if (!requireTool(t, 'veritysetup')) return;
  const img = join(dir, 'ours-appended.img');
  writeFileSync(img, pattern(200 * 4096, 11));
  const tree = formatVerityFile(img);
  const offset = String(tree.params.hashOffset);
  run('veritysetup', ['verify', '--hash-offset', offset, img, img, tree.rootHash]);
  const dump = run('veritysetup', ['dump', '--hash-offset', offset, img]);
  assert.match(dump, /Data blocks:\s+200/);
  assert.match(dump, new RegExp(`Salt:\\s+${Buffer.from(tree.params.salt).toString('hex')}`));
  const dev = openVerity({
    data: fileDevice(img),
    rootHash: tree.rootHash,
    hashOffset: tree.params.hashOffset,
  });
  assert.equal(dev.blockCount, 200);
});

test('veritysetup verify accepts our separate trees (salts, UUID, block sizes) and reproduces our root hash', (t) => {
  if (!requireTool(t, 'veritysetup')) return;
  const data = join(dir, 'ours-data.img');
  const hash = join(dir, 'ours-hash.img');
  writeFileSync(data, pattern(1 << 20, 5));
  for (const [salt, bs] of [
    [new Uint8Array(0), 4096],
    [pattern(256, 9), 512],
    [pattern(32, 2), 1024],
  ] as const) {
    const uuid = '12345678-9abc-def0-1234-56789abcdef0';
    const tree = formatVerityFile(data, { hashPath: hash, salt, uuid, dataBlockSize: bs, hashBlockSize: bs });
    run('veritysetup', ['verify', data, hash, tree.rootHash]);
    assert.match(run('veritysetup', ['dump', hash]), new RegExp(`UUID:\\s+${uuid}`));
    // veritysetup, given the same parameters, computes the same root hash.
    const saltHex = salt.length ? Buffer.from(salt).toString('hex') : '-';
    const theirs = rootHashOf(
      run('veritysetup', [
        'format',
        '--salt',
        saltHex,
        '--uuid',
        uuid,
        '--data-block-size',
        String(bs),
        '--hash-block-size',
        String(bs),
        data,
        join(dir, `theirs-${bs}.img`),
      ]),
    );
    assert.equal(theirs, tree.rootHash);
    assert.deepEqual(readFileSync(join(dir, `theirs-${bs}.img`)), readFileSync(hash));
  }
});

test('in-memory devices with larger device blocks than verity blocks work', () => {
  const data = new MemoryBlockDevice(pattern(64 * 1024, 4), 4096);
  const hashFile = join(dir, 'mem.img');
  writeFileSync(hashFile, data.bytes);
  const tree = formatVerityFile(hashFile, {
    dataBlockSize: 512,
    hashBlockSize: 512,
    hashPath: join(dir, 'mem-h.img'),
  });
  const dev = openVerity({ data, hash: fileDevice(join(dir, 'mem-h.img')), rootHash: tree.rootHash });
  assert.deepEqual(readAll(dev), data.bytes);
});
