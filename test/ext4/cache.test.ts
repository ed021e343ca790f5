import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockCache, MemoryBlockDevice } from '../../src/enclave/ext4/index.ts';
import type { BlockDevice } from '../../src/enclave/ext4/index.ts';

function counting(bytes: Uint8Array, blockSize = 512): BlockDevice & { log: string[] } {
  const mem = new MemoryBlockDevice(bytes, blockSize);
  const log: string[] = [];
  return {
    blockSize,
    sizeBytes: mem.sizeBytes,
    log,
    read(o, l) {
      log.push(`r${o / blockSize}+${l / blockSize}`);
      return mem.read(o, l);
    },
    write(o, d) {
      log.push(`w${o / blockSize}+${d.length / blockSize}`);
      mem.write(o, d);
    },
    flush() {
      log.push('f');
    },
  };
}

test('serves unaligned byte ranges and writes partial blocks back whole', () => {
  const bytes = new Uint8Array(64 * 512).map((_, i) => i & 0xff);
  const dev = counting(bytes);
  const cache = new BlockCache(dev, 8, 1);
  const out = new Uint8Array(700);
  cache.read(1000, out);
  assert.deepEqual([...out.subarray(0, 4)], [1000 & 0xff, 1001 & 0xff, 1002 & 0xff, 1003 & 0xff]);
  cache.write(1020, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]));
  assert.equal(bytes[1020], 1020 & 0xff, 'write-back: nothing reaches the device before flush');
  cache.flush();
  assert.deepEqual([...bytes.subarray(1018, 1030)], [250, 251, 9, 9, 9, 9, 9, 9, 9, 9, 4, 5]);
  assert.deepEqual(dev.log.slice(-2), ['w1+2', 'f'], 'adjacent dirty blocks go out in one write');
});

test('stays within its capacity, writing dirty blocks back when evicting them', () => {
  const bytes = new Uint8Array(64 * 512);
  const dev = counting(bytes);
  const cache = new BlockCache(dev, 4, 1);
  for (let b = 0; b < 10; b++) cache.write(b * 512, new Uint8Array(512).fill(b + 1));
  assert.ok(dev.log.filter((e) => e.startsWith('w')).length >= 4, 'evicted dirty blocks were written');
  cache.flush();
  for (let b = 0; b < 10; b++) assert.equal(bytes[b * 512 + 7], b + 1);
  const out = new Uint8Array(512);
  cache.read(3 * 512, out);
  assert.equal(out[0], 4);
});

test('sequential misses grow the read-ahead window; it stops at cached blocks and the device end', () => {
  const dev = counting(new Uint8Array(64 * 512));
  const cache = new BlockCache(dev, 100, 8);
  const one = new Uint8Array(512);
  for (let b = 0; b < 64; b++) cache.read(b * 512, one);
  const reads = dev.log.filter((e) => e.startsWith('r'));
  assert.ok(reads.length < 16, `few device reads: ${reads.join(' ')}`);
  assert.equal(cache.stats.misses + cache.stats.hits, 64);
  assert.throws(() => cache.read(64 * 512, one), { name: 'WasiError', errno: 29 });
});

test('rejects device block sizes that are not a power of two', () => {
  const dev = new MemoryBlockDevice(new Uint8Array(3000), 1000);
  assert.throws(() => new BlockCache(dev), { name: 'WasiError', errno: 28 });
});

test('a failing read-ahead block is dropped: the requested blocks read right, only the bad block fails', () => {
  const bytes = new Uint8Array(64 * 512).map((_, i) => (i * 7) & 0xff);
  const dev = counting(bytes);
  const bad = 20;
  const read = dev.read.bind(dev);
  dev.read = (o, l) => {
    if (o <= bad * 512 && bad * 512 < o + l) throw new Error(`block ${bad} does not match its hash`);
    return read(o, l);
  };
  const cache = new BlockCache(dev, 100, 16);
  const one = new Uint8Array(512);
  for (let b = 0; b < bad; b++) {
    cache.read(b * 512, one);
    assert.deepEqual(one, bytes.subarray(b * 512, (b + 1) * 512), `block ${b}`);
  }
  assert.ok(
    dev.log.some((e) => /^r\d+\+\d+$/.test(e) && Number(e.split('+')[1]) > 1),
    'read-ahead was tried',
  );
  assert.throws(() => cache.read(bad * 512, one), /block 20 does not match its hash/);
  for (let b = bad + 1; b < 64; b++) {
    cache.read(b * 512, one);
    assert.deepEqual(one, bytes.subarray(b * 512, (b + 1) * 512), `block ${b}`);
  }
  assert.throws(() => cache.read(bad * 512, one), /block 20/, 'the bad block was not cached');
});
