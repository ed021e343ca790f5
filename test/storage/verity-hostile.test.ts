import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import {
  BlockDeviceError,
  FormatError,
  IntegrityError,
  type BlockDevice,
} from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import {
  encodeVeritySuperblock,
  parseVeritySuperblock,
} from '../../src/common/blockdev/verity-superblock.ts';
import { buildVerityTree } from '../../src/image/verity-format.ts';
import { pattern } from './helpers/files.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const BS = 4096;
const BLOCKS = 300; // two tree levels with 4 KiB hash blocks

/** A data image with its tree appended, like `cloister image build` makes. */
function image() {
  const data = pattern(BLOCKS * BS, 42);
  const tree = buildVerityTree((o, l) => data.subarray(o, o + l), BLOCKS, data.length, {
    salt: pattern(32, 1),
  });
  const bytes = new Uint8Array(data.length + tree.hashArea.length);
  bytes.set(data);
  bytes.set(tree.hashArea, data.length);
  return { bytes, data, tree };
}

function open(bytes: Uint8Array, rootHash: string) {
  return openVerity({ data: new MemoryBlockDevice(bytes), rootHash, hashOffset: BLOCKS * BS });
}

test('reads back every block of an untouched image', () => {
  const { bytes, data, tree } = image();
  const dev = open(bytes, tree.rootHash);
  assert.equal(dev.layout.levels, 2);
  assert.deepEqual(readBlocks(dev, 0, BLOCKS), data);
});

test('one flipped bit in a data block fails that block only, naming it', () => {
  const { bytes, data, tree } = image();
  bytes[123 * BS + 77] ^= 0x10;
  const dev = open(bytes, tree.rootHash);
  assert.throws(
    () => readBlocks(dev, 123, 1),
    (e: unknown) => {
      assert.ok(e instanceof IntegrityError);
      assert.equal(e.block, 123);
      assert.equal(e.message, 'dm-verity: data block 123 does not match its hash');
      return true;
    },
  );
  assert.throws(() => readBlocks(dev, 120, 8), IntegrityError);
  assert.deepEqual(readBlocks(dev, 124, 1), data.subarray(124 * BS, 125 * BS));
});

test('one flipped bit in a level-0 hash block is detected', () => {
  const { bytes, tree } = image();
  const dev0 = open(bytes, tree.rootHash);
  const leaf = dev0.layout.levelStart[0];
  bytes[leaf * BS + 5] ^= 1;
  const dev = open(bytes, tree.rootHash);
  assert.throws(
    () => readBlocks(dev, 3, 1),
    (e: unknown) => {
      assert.ok(e instanceof IntegrityError);
      assert.equal(
        e.message,
        `dm-verity: hash block ${leaf} (level 0) does not match its hash (reading data block 3)`,
      );
      assert.equal(e.block, 3);
      return true;
    },
  );
});

test('one flipped bit in the top hash block or in the root hash refuses to open', () => {
  const { bytes, tree } = image();
  const flippedRoot = (tree.rootHash[0] === '0' ? '1' : '0') + tree.rootHash.slice(1);
  assert.throws(() => open(bytes, flippedRoot), /root hash does not match the hash tree/);
  const top = open(bytes, tree.rootHash).layout.levelStart[1];
  bytes[top * BS + 100] ^= 0x80;
  assert.throws(() => open(bytes, tree.rootHash), IntegrityError);
});

test('two swapped data blocks are both detected', () => {
  const { bytes, tree } = image();
  const a = bytes.slice(10 * BS, 11 * BS);
  bytes.copyWithin(10 * BS, 20 * BS, 21 * BS);
  bytes.set(a, 20 * BS);
  const dev = open(bytes, tree.rootHash);
  assert.throws(() => readBlocks(dev, 10, 1), /data block 10 /);
  assert.throws(() => readBlocks(dev, 20, 1), /data block 20 /);
});

test('a truncated image refuses to open', () => {
  const { bytes, tree } = image();
  assert.throws(() => open(bytes.subarray(0, bytes.length - BS), tree.rootHash), FormatError);
  assert.throws(() => open(bytes.subarray(0, 100 * BS), tree.rootHash), FormatError);
});

/**
 * A device that lies: another block's contents, zeros, or a failure (a short or long host reply
 * fails in the host device itself: test/storage/host-device.test.ts).
 */
class LyingDevice implements BlockDevice {
  readonly blockSize = 512;
  readonly blockCount: number;
  mode: 'honest' | 'zeros' | 'failing' | 'shifted' = 'honest';
  constructor(private readonly inner: MemoryBlockDevice) {
    this.blockCount = inner.blockCount;
  }
  readInto(block: number, dst: Uint8Array): void {
    const count = dst.length / 512;
    if (this.mode === 'failing') throw new BlockDeviceError('device 0: host returned 511 of 512 bytes');
    if (this.mode === 'zeros') dst.fill(0);
    else if (this.mode === 'shifted')
      this.inner.readInto(block + 8 < this.blockCount - count ? block + 8 : 0, dst);
    else this.inner.readInto(block, dst);
  }
}

test('failed, zeroed and wrong replies from the device are refused', () => {
  const { bytes, tree } = image();
  const lying = new LyingDevice(new MemoryBlockDevice(bytes));
  const dev = openVerity({ data: lying, rootHash: tree.rootHash, hashOffset: BLOCKS * BS });
  lying.mode = 'failing';
  assert.throws(() => readBlocks(dev, 5, 1), BlockDeviceError);
  lying.mode = 'zeros';
  assert.throws(() => readBlocks(dev, 5, 1), IntegrityError);
  lying.mode = 'shifted';
  assert.throws(() => readBlocks(dev, 5, 1), IntegrityError);
  lying.mode = 'honest';
  assert.equal(readBlocks(dev, 5, 1).length, BS);
});

test('out-of-range reads are refused', () => {
  const { bytes, tree } = image();
  const dev = open(bytes, tree.rootHash);
  assert.throws(() => readBlocks(dev, BLOCKS, 1), BlockDeviceError);
  assert.throws(() => readBlocks(dev, -1, 1), BlockDeviceError);
  assert.throws(() => readBlocks(dev, 0.5, 1), BlockDeviceError);
});

test('hostile superblocks are refused field by field', () => {
  const { tree } = image();
  const good = encodeVeritySuperblock(tree.params, new Uint8Array(16));
  const bad = (edit: (sb: Uint8Array, v: DataView) => void) => {
    const sb = good.slice();
    edit(sb, new DataView(sb.buffer));
    return () => parseVeritySuperblock(sb, 0);
  };
  assert.doesNotThrow(bad(() => {}));
  assert.throws(
    bad((sb) => (sb[0] ^= 1)),
    /bad magic/,
  );
  assert.throws(
    bad((_, v) => v.setUint32(8, 2, true)),
    /version 2/,
  );
  assert.throws(
    bad((_, v) => v.setUint32(12, 0, true)),
    /hash type 0/,
  );
  assert.throws(
    bad((sb) => sb.set([0x73, 0x68, 0x61, 0x31, 0, 0], 32)),
    /algorithm 'sha1'/,
  );
  assert.throws(
    bad((sb) => sb.fill(0x41, 32, 64)),
    /malformed algorithm/,
  );
  assert.throws(
    bad((_, v) => v.setUint32(64, 8192, true)),
    /data block size 8192/,
  );
  assert.throws(
    bad((_, v) => v.setUint32(68, 3000, true)),
    /hash block size 3000/,
  );
  assert.throws(
    bad((_, v) => v.setUint32(68, 256, true)),
    /hash block size 256/,
  );
  assert.throws(
    bad((_, v) => v.setBigUint64(72, 0n, true)),
    /data block count/,
  );
  assert.throws(
    bad((_, v) => v.setBigUint64(72, 1n << 60n, true)),
    /too large/,
  );
  assert.throws(
    bad((_, v) => v.setUint16(80, 257, true)),
    /salt size 257/,
  );
  assert.throws(() => parseVeritySuperblock(good.subarray(0, 100), 0), /truncated/);
});

test('a superblock that shrinks the data block count is caught by a pinned count', () => {
  const { bytes, tree } = image();
  const view = new DataView(bytes.buffer, BLOCKS * BS);
  view.setBigUint64(72, 200n, true);
  // The root hash alone does not bind the count: the same top hash block covers 200 blocks.
  assert.equal(open(bytes, tree.rootHash).blockCount, 200);
  assert.throws(
    () =>
      openVerity({
        data: new MemoryBlockDevice(bytes),
        rootHash: tree.rootHash,
        hashOffset: BLOCKS * BS,
        expect: { dataBlocks: BLOCKS },
      }),
    /superblock dataBlocks does not match/,
  );
});

test('a malformed root hash argument is refused', () => {
  const { bytes } = image();
  assert.throws(() => open(bytes, 'xyz'), /64 hex digits/);
});

test('the hash-block cache stays bounded and still verifies', () => {
  const { bytes, data, tree } = image();
  const dev = openVerity({
    data: new MemoryBlockDevice(bytes),
    rootHash: tree.rootHash,
    hashOffset: BLOCKS * BS,
    cacheBlocks: 1,
  });
  for (let b = 0; b < BLOCKS; b += 37)
    assert.deepEqual(readBlocks(dev, b, 1), data.subarray(b * BS, (b + 1) * BS));
});
