import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { UNIT } from '../../src/common/volume/layout.ts';
import { openVolume, type VolumeDevice } from '../../src/common/volume/volume.ts';
import { createVolumeFile, readVolumeInfo } from '../../src/image/volume-format.ts';
import { tempDir } from '../storage/helpers/files.ts';
import { requireTool, run, tryRun } from '../storage/helpers/tools.ts';
import { KEY, UUID } from './helpers.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const dir = tempDir();
const SIZE = 4 << 20;

function openFile(path: string): { dev: MemoryBlockDevice; vol: VolumeDevice } {
  const dev = new MemoryBlockDevice(new Uint8Array(readFileSync(path)), 512);
  return { dev, vol: openVolume(dev, KEY) };
}

test('createVolumeFile writes a sparse empty volume that readVolumeInfo describes without the key', async () => {
  const path = join(dir, 'empty.vol');
  const made = await createVolumeFile(path, SIZE, KEY, { random: (n) => new Uint8Array(n).fill(0x5a) });
  assert.deepEqual(made.uuid, new Uint8Array(16).fill(0x5a));
  assert.equal(statSync(path).size, made.fileBytes);
  assert.ok(statSync(path).blocks * 512 < SIZE, 'file is sparse');
  assert.deepEqual(readVolumeInfo(path), {
    uuid: '5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a',
    sizeBytes: SIZE,
    logicalBlocks: SIZE / UNIT,
    generation: 1,
    fileBytes: made.fileBytes,
  });
  const { vol } = openFile(path);
  assert.equal(vol.blockCount, SIZE / UNIT);
  assert.deepEqual(readBlocks(vol, 0, 4), new Uint8Array(4 * UNIT));
  await assert.rejects(createVolumeFile(join(dir, 'odd.vol'), 1000, KEY), /multiple of 4096/);
  await assert.rejects(createVolumeFile(path, SIZE, KEY), /exists; refusing to overwrite/);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('creating') || n.startsWith('odd')),
    [],
    'no temporary file is left behind',
  );
  assert.throws(() => readVolumeInfo(join(dir, 'x')), /ENOENT/);
  writeFileSync(join(dir, 'plain'), new Uint8Array(UNIT * 2));
  assert.throws(() => readVolumeInfo(join(dir, 'plain')), /not a Cloister volume/);
});

test('mke2fs image -> encrypted volume -> decrypted back is byte-identical and e2fsck-clean; ext4 writes through the volume stay clean', async (t) => {
  if (!requireTool(t, 'mke2fs') || !requireTool(t, 'e2fsck') || !requireTool(t, 'debugfs')) return;
  const src = join(dir, 'root');
  mkdirSync(join(src, 'etc'), { recursive: true });
  writeFileSync(join(src, 'etc', 'hello.txt'), 'hello from the volume\n');
  const plain = join(dir, 'plain.ext4');
  writeFileSync(plain, new Uint8Array(SIZE));
  run('mke2fs', ['-q', '-t', 'ext4', '-b', '4096', '-F', '-d', src, plain]);
  const original = new Uint8Array(readFileSync(plain));

  const volPath = join(dir, 'fs.vol');
  await createVolumeFile(volPath, SIZE, KEY, { uuid: UUID, initialContent: plain });
  assert.equal(readVolumeInfo(volPath).generation, 3); // format, version reservation, content commit
  const raw = readFileSync(volPath);
  assert.equal(raw.indexOf(Buffer.from('hello from the volume')), -1, 'contents are encrypted');

  const { dev, vol } = openFile(volPath);
  const out = join(dir, 'out.ext4');
  writeFileSync(out, readBlocks(vol, 0, vol.blockCount));
  assert.deepEqual(new Uint8Array(readFileSync(out)), original);
  assert.equal(tryRun('e2fsck', ['-fn', out]).status, 0);

  // An ext4 writer (debugfs here) changes blocks; they go through the volume and commit.
  writeFileSync(join(dir, 'new.txt'), 'written later\n');
  run('debugfs', ['-w', '-R', `write ${join(dir, 'new.txt')} new.txt`, out]);
  const changed = new Uint8Array(readFileSync(out));
  for (let b = 0; b < vol.blockCount; b++) {
    const block = changed.subarray(b * UNIT, (b + 1) * UNIT);
    if (!Buffer.from(block).equals(Buffer.from(original.subarray(b * UNIT, (b + 1) * UNIT))))
      vol.write(b, block);
  }
  vol.flush();
  const back = join(dir, 'back.ext4');
  writeFileSync(back, readBlocks(openVolume(dev, KEY, { minGeneration: vol.generation }), 0, vol.blockCount));
  assert.equal(tryRun('e2fsck', ['-fn', back]).status, 0);
  assert.equal(run('debugfs', ['-R', 'cat new.txt', back]), 'written later\n');
  assert.equal(run('debugfs', ['-R', 'cat etc/hello.txt', back]), 'hello from the volume\n');
});
