import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockCache } from '../../src/common/blockdev/cache.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { BlockDeviceError, type BlockDevice } from '../../src/common/blockdev/types.ts';
import { ByteRangeIo } from '../../src/common/ext4/device.ts';
import { WasiError } from '../../src/interface/errno.ts';

type Logged = BlockDevice & { log: string[]; fail?: (block: number, count: number) => void };

function counting(bytes: Uint8Array, blockSize = 512): Logged {
  const mem = new MemoryBlockDevice(bytes, blockSize);
  const dev: Logged = {
    blockSize,
    blockCount: mem.blockCount,
    log: [],
    readInto(block, dst) {
      dev.log.push(`r${block}+${dst.length / blockSize}`);
      dev.fail?.(block, dst.length / blockSize);
      mem.readInto(block, dst);
    },
    write(block, data) {
      dev.log.push(`w${block}+${data.length / blockSize}`);
      mem.write(block, data);
    },
    flush() {
      dev.log.push('f');
    },
  };
  return dev;
}

const readOne = (dev: BlockDevice, block: number): Uint8Array => {
  const out = new Uint8Array(dev.blockSize);
  dev.readInto(block, out);
  return out;
};

test('ext4 byte ranges over the cache: unaligned reads, partial writes written back whole at flush', () => {
  const bytes = new Uint8Array(64 * 512).map((_, i) => i & 0xff);
  const dev = counting(bytes);
  const io = new ByteRangeIo(new BlockCache(dev, { capacity: 8, readAhead: 1 }));
  const out = new Uint8Array(700);
  io.read(1000, out);
  assert.deepEqual([...out.subarray(0, 4)], [1000 & 0xff, 1001 & 0xff, 1002 & 0xff, 1003 & 0xff]);
  io.write(1020, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]));
  assert.equal(bytes[1020], 1020 & 0xff, 'write-back: nothing reaches the device before flush');
  io.flush();
  assert.deepEqual([...bytes.subarray(1018, 1030)], [250, 251, 9, 9, 9, 9, 9, 9, 9, 9, 4, 5]);
  assert.deepEqual(dev.log.slice(-2), ['w1+2', 'f'], 'adjacent dirty blocks go out in one write');
  assert.throws(() => io.read(64 * 512 - 10, new Uint8Array(20)), { name: 'WasiError', errno: 29 });
});

test('stays within its capacity, writing dirty blocks back when evicting them', () => {
  const bytes = new Uint8Array(64 * 512);
  const dev = counting(bytes);
  const cache = new BlockCache(dev, { capacity: 4, readAhead: 1 });
  for (let b = 0; b < 10; b++) cache.write?.(b, new Uint8Array(512).fill(b + 1));
  for (let b = 0; b < 6; b++) assert.equal(bytes[b * 512 + 7], b + 1, `evicted block ${b} was written back`);
  assert.ok(cache.heldBytes <= 4 * 512);
  cache.flush();
  for (let b = 0; b < 10; b++) assert.equal(bytes[b * 512 + 7], b + 1);
  assert.equal(readOne(cache, 3)[0], 4);
});

test('eviction writes a dirty victim back with the other oldest dirty blocks, in one request', () => {
  const bytes = new Uint8Array(256 * 512);
  const dev = counting(bytes);
  const requests: number[][] = [];
  dev.writeMany = (pieces) => {
    requests.push(pieces.map((p) => p.block));
    for (const p of pieces) new MemoryBlockDevice(bytes, 512).write(p.block, p.data);
  };
  const cache = new BlockCache(dev, { capacity: 8, readAhead: 1 });
  // Scattered dirty blocks: 0, 10, 20, ... 70 fill the cache; the ninth evicts block 0.
  for (let k = 0; k <= 8; k++) cache.write?.(k * 10, new Uint8Array(512).fill(k + 1));
  assert.deepEqual(requests, [[0, 10, 20, 30, 40, 50, 60, 70, 80]], 'one request, every dirty block');
  for (let k = 0; k <= 8; k++) assert.equal(bytes[k * 10 * 512], k + 1);
  assert.equal(readOne(cache, 80)[0], 9, 'written-back blocks stay cached');
  cache.write?.(90, new Uint8Array(512).fill(10));
  cache.write?.(100, new Uint8Array(512).fill(11));
  requests.length = 0;
  dev.log.length = 0;
  cache.flush();
  assert.deepEqual(requests, [[90, 100]], 'at flush only what is still dirty, in one request');
  assert.deepEqual(dev.log, ['f']);
  assert.equal(bytes[100 * 512], 11);
});

test('sequential misses grow the read-ahead window; it stops at cached blocks and the device end', () => {
  const dev = counting(new Uint8Array(64 * 512));
  const cache = new BlockCache(dev, { capacity: 100, readAhead: 8 });
  for (let b = 0; b < 64; b++) readOne(cache, b);
  const reads = dev.log.filter((e) => e.startsWith('r'));
  assert.ok(reads.length < 16, `few device reads: ${reads.join(' ')}`);
  assert.equal(cache.stats.misses + cache.stats.hits, 64);
  assert.throws(() => readOne(cache, 64), BlockDeviceError);
});

test('a hot block does not pin the read-ahead runs it came with: memory stays within the capacity', () => {
  const dev = counting(new Uint8Array(4096 * 512).map((_, i) => (i >> 9) & 0xff));
  const cache = new BlockCache(dev, { capacity: 40, readAhead: 16 });
  for (let b = 0; b < 4096; b++) {
    assert.equal(readOne(cache, b)[0], b & 0xff);
    assert.equal(readOne(cache, 3)[0], 3, 'the hot block reads right');
    assert.ok(cache.heldBytes <= 40 * 512, `held ${cache.heldBytes} bytes at block ${b}`);
  }
});

test('a write to a block read ahead changes only that block, and reaches the device at flush', () => {
  const bytes = new Uint8Array(64 * 512);
  const dev = counting(bytes);
  const cache = new BlockCache(dev, { capacity: 100, readAhead: 8 });
  for (let b = 0; b < 8; b++) readOne(cache, b);
  cache.write?.(5, new Uint8Array(512).fill(7));
  assert.equal(readOne(cache, 4)[0], 0);
  assert.equal(readOne(cache, 5)[0], 7);
  assert.equal(bytes[5 * 512], 0);
  cache.flush();
  assert.equal(bytes[5 * 512], 7);
  assert.equal(bytes[4 * 512], 0);
});

test('no write method over a read-only device; block sizes that are not a power of two are refused', () => {
  const mem = new MemoryBlockDevice(new Uint8Array(4096));
  const readOnly: BlockDevice = { blockSize: 512, blockCount: 8, readInto: (b, d) => mem.readInto(b, d) };
  assert.equal(new BlockCache(readOnly).write, undefined);
  assert.throws(() => new ByteRangeIo(new BlockCache(readOnly)).write(0, new Uint8Array(512)), {
    name: 'WasiError',
    errno: 69,
  });
  const odd: BlockDevice = { blockSize: 1000, blockCount: 3, readInto: () => {} };
  assert.throws(() => new BlockCache(odd), BlockDeviceError);
  assert.throws(
    () => new ByteRangeIo(odd),
    (e: unknown) => e instanceof WasiError && e.errno === 28,
  );
});

test('a failing read-ahead block is dropped: the requested blocks read right, only the bad block fails', () => {
  const bytes = new Uint8Array(64 * 512).map((_, i) => (i * 7) & 0xff);
  const dev = counting(bytes);
  const bad = 20;
  dev.fail = (block, count) => {
    if (block <= bad && bad < block + count) throw new Error(`block ${bad} does not match its hash`);
  };
  const cache = new BlockCache(dev, { capacity: 100, readAhead: 16 });
  for (let b = 0; b < bad; b++)
    assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512), `block ${b}`);
  assert.ok(
    dev.log.some((e) => /^r\d+\+\d+$/.test(e) && Number(e.split('+')[1]) > 1),
    'read-ahead was tried',
  );
  assert.throws(() => readOne(cache, bad), /block 20 does not match its hash/);
  for (let b = bad + 1; b < 64; b++)
    assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512), `block ${b}`);
  assert.throws(() => readOne(cache, bad), /block 20/, 'the bad block was not cached');
});

test('buffers kept for reuse stay within four read-ahead runs, whatever lengths the runs had', () => {
  const bytes = new Uint8Array(4096 * 512).map((_, i) => (i * 13) & 0xff);
  const dev = counting(bytes);
  const cache = new BlockCache(dev, { capacity: 40, readAhead: 16 });
  // Sequential streams cut short at cached blocks make runs of many lengths; eviction frees them.
  for (let round = 0; round < 200; round++) {
    const start = (round * 97) % 3800;
    readOne(cache, start + 1 + (round % 15));
    for (let b = start; b < start + 40; b++) {
      assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512));
    }
    assert.ok(cache.spareBytes <= 4 * 16 * 512, `spare bytes ${cache.spareBytes}`);
  }
  assert.ok(cache.spareBytes > 0, 'buffers are kept');
});
