// dm-verity's requests to the device below (each one a host round trip in the enclave): the upper
// levels of the tree come in one request at open and stay; a cold read fetches its data blocks and the
// hash blocks it lacks in one request; and whatever arrives together is still checked before use.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';
import { IntegrityError, type BlockDevice, type BlockTransfer } from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { buildVerityTree } from '../../src/image/verity-format.ts';
import { pattern } from './helpers/files.ts';

const BS = 4096;
const HBS = 512; // 16 digests per hash block: three levels over 1000 blocks
const BLOCKS = 1000;

/** An image with its tree appended (no superblock: the caller's parameters are trusted). */
function image() {
  const data = pattern(BLOCKS * BS, 7);
  const tree = buildVerityTree((o, l) => data.subarray(o, o + l), BLOCKS, data.length, {
    hashBlockSize: HBS,
    salt: pattern(32, 3),
    superblock: false,
  });
  const bytes = new Uint8Array(data.length + tree.hashArea.length);
  bytes.set(data);
  bytes.set(tree.hashArea, data.length);
  return { bytes, data, tree };
}

/** A 512-byte device that takes vectored reads and records every request (one per round trip). */
function recordingDevice(bytes: Uint8Array) {
  const memory = new MemoryBlockDevice(bytes, 512);
  const requests: BlockTransfer[][] = [];
  const dev: BlockDevice = {
    blockSize: 512,
    blockCount: memory.blockCount,
    readInto: (block, data) => {
      requests.push([{ block, data }]);
      memory.readInto(block, data);
    },
    readIntoMany: (reads) => {
      requests.push([...reads]);
      for (const r of reads) memory.readInto(r.block, r.data);
    },
  };
  return { dev, requests };
}

function open(dev: BlockDevice, rootHash: string, pinnedBlocks?: number) {
  return openVerity({
    data: dev,
    rootHash,
    hashOffset: BLOCKS * BS,
    params: { dataBlockSize: BS, hashBlockSize: HBS, dataBlocks: BLOCKS, salt: pattern(32, 3) },
    pinnedBlocks,
  });
}

test('the upper levels come in one request at open; a cold read is then one request', () => {
  const { bytes, data, tree } = image();
  const { dev, requests } = recordingDevice(bytes);
  const verity = open(dev, tree.rootHash);
  assert.equal(verity.layout.levels, 3);
  assert.equal(requests.length, 1, 'levels 2 and 1 in one request');
  const upper = verity.layout.levelBlocks[2] + verity.layout.levelBlocks[1];
  assert.equal(requests[0][0].data.length, upper * HBS);

  requests.length = 0;
  assert.deepEqual(readBlocks(verity, 700, 1), data.subarray(700 * BS, 701 * BS));
  assert.equal(requests.length, 1, 'data block and its level-0 hash block together');
  assert.deepEqual(
    requests[0].map((r) => r.data.length),
    [BS, HBS],
  );

  requests.length = 0;
  readBlocks(verity, 701, 1); // the same level-0 block, now cached
  assert.deepEqual(
    requests.map((r) => r.length),
    [1],
  );

  requests.length = 0;
  assert.deepEqual(readBlocks(verity, 0, 40), data.subarray(0, 40 * BS));
  assert.equal(requests.length, 1);
  assert.equal(requests[0].length, 1 + 3, '40 blocks need three level-0 hash blocks');
});

test('without room to keep them, the upper levels are fetched with the data they check', () => {
  const { bytes, data, tree } = image();
  const { dev, requests } = recordingDevice(bytes);
  const verity = open(dev, tree.rootHash, 0);
  requests.length = 0;
  assert.deepEqual(readBlocks(verity, 999, 1), data.subarray(999 * BS));
  assert.equal(requests.length, 1);
  assert.equal(requests[0].length, 1 + 2, 'level 0 and level 1 (the top was checked at open)');
});

test('a tampered hash block fetched with its data is refused, and not kept', () => {
  const { bytes, tree } = image();
  const verity = open(recordingDevice(bytes).dev, tree.rootHash);
  const levelZero = verity.layout.levelStart[0];
  bytes[(levelZero + 700 / 16) * HBS + 5] ^= 1; // the level-0 block of data block 700
  for (let attempt = 0; attempt < 2; attempt++) {
    assert.throws(
      () => readBlocks(verity, 700, 1),
      (e: unknown) =>
        e instanceof IntegrityError &&
        e.block === 700 &&
        /hash block \d+ \(level 0\) does not match its hash \(reading data block 700\)/.test(e.message),
    );
  }
});

test('a tampered data block fetched with its hash blocks is refused', () => {
  const { bytes, tree } = image();
  const verity = open(recordingDevice(bytes).dev, tree.rootHash);
  bytes[333 * BS] ^= 0x80;
  assert.throws(() => readBlocks(verity, 330, 8), /data block 333 does not match its hash/);
});

test('a tampered upper level refuses the open', () => {
  const { bytes, tree } = image();
  const probe = open(recordingDevice(bytes.slice()).dev, tree.rootHash);
  bytes[probe.layout.levelStart[1] * HBS + 3 * HBS + 1] ^= 4; // the fourth level-1 block
  assert.throws(() => open(recordingDevice(bytes).dev, tree.rootHash), IntegrityError);
});
