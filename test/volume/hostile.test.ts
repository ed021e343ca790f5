import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { FormatError, IntegrityError } from '../../src/common/blockdev/types.ts';
import { Geometry, UNIT } from '../../src/common/volume/layout.ts';
import { parseSuperblock } from '../../src/common/volume/superblock.ts';
import {
  RollbackError,
  formatVolume,
  openVolume,
  type VolumeDevice,
} from '../../src/common/volume/volume.ts';
import { KEY, blockData, deviceFor, flipBit, unitBytes } from './helpers.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const BLOCKS = 300;
const geo = new Geometry(BLOCKS);

/** A volume with blocks 0..19 written (seed 1) and committed. */
function populated(): { dev: MemoryBlockDevice; vol: VolumeDevice } {
  const dev = deviceFor(BLOCKS);
  const vol = formatVolume(dev, KEY);
  for (let b = 0; b < 20; b++) vol.write(b, blockData(b, 1));
  vol.flush();
  return { dev, vol };
}

function integrityErrorOn(block: number) {
  return (e: unknown) => e instanceof IntegrityError && e.block === block && /data block/.test(e.message);
}

/** The superblock slot (0 = A, 1 = B) holding the newest generation. */
function newestSuperblock(dev: MemoryBlockDevice): number {
  const gens = [0, 1].map((s) => parseSuperblock(unitBytes(dev, s))?.generation ?? -1);
  return gens[1] > gens[0] ? 1 : 0;
}

test('a flipped bit in a data block is an IntegrityError naming the block, on a mounted volume and after a reopen', () => {
  const { dev, vol } = populated();
  for (const slot of [0, 1]) flipBit(dev, geo.dataUnit(7, slot));
  assert.throws(() => readBlocks(vol, 7, 1), integrityErrorOn(7));
  assert.throws(() => readBlocks(vol, 5, 4), integrityErrorOn(7));
  assert.deepEqual(readBlocks(vol, 6, 1), blockData(6, 1));
  assert.throws(() => readBlocks(openVolume(dev, KEY), 7, 1), integrityErrorOn(7));
});

test('a flipped bit in a metadata node refuses to open (leaf, inner node, root)', () => {
  const big = new Geometry(9000);
  const dev = deviceFor(9000);
  const vol = formatVolume(dev, KEY);
  vol.write(8999, blockData(8999, 1));
  vol.flush();
  const nodes = [big.node(0, 70), big.node(1, 1), big.node(2, 0)];
  for (const node of nodes) {
    const copy = new MemoryBlockDevice(dev.bytes.slice(), 512);
    for (const slot of [0, 1]) flipBit(copy, big.nodeUnit(node, slot), 8);
    assert.throws(() => openVolume(copy, KEY), /metadata node .* does not match its hash/);
  }
});

test('a damaged newest superblock falls back to the previous commit, which minGeneration refuses', () => {
  const { dev, vol } = populated();
  vol.write(0, blockData(0, 2));
  vol.flush();
  const gen = vol.generation;
  const newest = newestSuperblock(dev);
  flipBit(dev, newest, 40);
  const older = openVolume(dev, KEY);
  assert.ok(older.generation < gen);
  assert.deepEqual(readBlocks(older, 0, 1), blockData(0, 1));
  assert.throws(() => openVolume(dev, KEY, { minGeneration: gen }), RollbackError);
  flipBit(dev, 1 - newest, 130);
  assert.throws(() => openVolume(dev, KEY), /no superblock copy passes its MAC/);
});

test('damage to the older superblock copy does not matter', () => {
  const { dev, vol } = populated();
  const older = 1 - newestSuperblock(dev);
  for (const offset of [64, 8, 56]) {
    flipBit(dev, older, offset); // root hash, then format version and root slot (unparseable copies)
    const again = openVolume(dev, KEY, { minGeneration: vol.generation });
    assert.deepEqual(readBlocks(again, 19, 1), blockData(19, 1));
  }
  flipBit(dev, 1 - older, 8);
  assert.throws(() => openVolume(dev, KEY), /unsupported format version/);
});

test('two data blocks swapped are both detected', () => {
  const { dev, vol } = populated();
  for (const slot of [0, 1]) {
    const a = unitBytes(dev, geo.dataUnit(3, slot));
    const b = unitBytes(dev, geo.dataUnit(4, slot));
    const t = a.slice();
    a.set(b);
    b.set(t);
  }
  assert.throws(() => readBlocks(vol, 3, 1), integrityErrorOn(3));
  assert.throws(() => readBlocks(vol, 4, 1), integrityErrorOn(4));
});

test('a block copied over another is detected', () => {
  const { dev, vol } = populated();
  for (const slot of [0, 1]) unitBytes(dev, geo.dataUnit(9, slot)).set(unitBytes(dev, geo.dataUnit(8, slot)));
  assert.throws(() => readBlocks(vol, 9, 1), integrityErrorOn(9));
});

test('an old version of a block replayed is detected, while mounted and across runs', () => {
  const { dev, vol } = populated();
  vol.write(2, blockData(2, 2));
  vol.flush();
  const old = dev.bytes.slice(); // slot A and B of block 2 now hold versions from seeds 1 and 2
  vol.write(2, blockData(2, 3));
  vol.flush();
  const replay = () => {
    for (const slot of [0, 1])
      unitBytes(dev, geo.dataUnit(2, slot)).set(old.subarray(geo.dataUnit(2, slot) * UNIT).subarray(0, UNIT));
  };
  replay();
  assert.throws(() => readBlocks(vol, 2, 1), integrityErrorOn(2));
  assert.throws(() => readBlocks(openVolume(dev, KEY), 2, 1), integrityErrorOn(2));
  // Replaying the metadata leaf too breaks the tree; only the whole volume replays consistently.
  const leaf = geo.node(0, 0);
  for (const slot of [0, 1])
    unitBytes(dev, geo.nodeUnit(leaf, slot)).set(
      old.subarray(geo.nodeUnit(leaf, slot) * UNIT).subarray(0, UNIT),
    );
  assert.throws(() => openVolume(dev, KEY), /metadata node/);
});

test('a whole volume rolled back opens (nothing can tell by itself) but not against a known generation', () => {
  const { dev, vol } = populated();
  const old = dev.bytes.slice();
  vol.write(0, blockData(0, 2));
  vol.flush();
  const gen = vol.generation;
  dev.bytes.set(old);
  assert.deepEqual(readBlocks(openVolume(dev, KEY), 0, 1), blockData(0, 1));
  assert.throws(() => openVolume(dev, KEY, { minGeneration: gen }), RollbackError);
  assert.throws(
    () => openVolume(dev, KEY, { minGeneration: gen }),
    /generation \d+ on disk is older than generation \d+, the last one recorded/,
  );
});

test('a truncated device refuses to open', () => {
  const { dev } = populated();
  const cut = new MemoryBlockDevice(dev.bytes.slice(0, (geo.totalUnits - 1) * UNIT), 512);
  assert.throws(() => openVolume(cut, KEY), FormatError);
  assert.throws(() => openVolume(cut, KEY), /truncated/);
  assert.throws(() => openVolume(new MemoryBlockDevice(dev.bytes.slice(0, UNIT), 512), KEY), /too small/);
});

test('a device failure during a write leaves the volume unusable rather than inconsistent', () => {
  const { dev } = populated();
  let fail = false;
  const flaky = {
    blockSize: dev.blockSize,
    blockCount: dev.blockCount,
    readInto: (b: number, dst: Uint8Array) => dev.readInto(b, dst),
    write: (b: number, d: Uint8Array) => {
      if (fail) throw new Error('EIO from host');
      dev.write(b, d);
    },
    flush: () => {},
  };
  const vol = openVolume(flaky, KEY);
  vol.write(1, blockData(1, 2));
  fail = true;
  assert.throws(() => vol.flush(), /EIO from host/);
  fail = false;
  assert.throws(() => readBlocks(vol, 1, 1), /unusable after a device failure/);
  assert.deepEqual(readBlocks(openVolume(dev, KEY), 1, 1), blockData(1, 1));
});
