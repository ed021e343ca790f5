// Reads started ahead (BlockDevice.startReadInto): the block cache starts the next sequential run
// before it checks the current one, so the host reads while the enclave verifies and decrypts.
// Attack first: a host that tampers with the reply to a run read ahead must cause an I/O error for
// the tampered block, or the right data after an honest re-read, never wrong data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockCache } from '../../src/common/blockdev/cache.ts';
import { unlockLuks2 } from '../../src/common/blockdev/luks2.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { IntegrityError, type BlockDevice } from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { HostBlockDevice } from '../../src/enclave/blockdev/host-device.ts';
import type { BatchRequest, DeferredCalls, HostChannel, Reply } from '../../src/enclave/ring/channel.ts';
import { buildVerityTree } from '../../src/image/verity-format.ts';
import { pattern, shieldedImage } from './helpers/files.ts';

const readOne = (dev: BlockDevice, block: number): Uint8Array => {
  const out = new Uint8Array(dev.blockSize);
  dev.readInto(block, out);
  return out;
};

/** A memory device whose reads can be started and finished later; it logs both. */
function startable(bytes: Uint8Array, blockSize = 512) {
  const mem = new MemoryBlockDevice(bytes, blockSize);
  const log: string[] = [];
  const dev: BlockDevice = {
    blockSize,
    blockCount: mem.blockCount,
    readInto(block, dst) {
      log.push(`r${block}+${dst.length / blockSize}`);
      mem.readInto(block, dst);
    },
    startReadInto(block, dst) {
      log.push(`s${block}+${dst.length / blockSize}`);
      return () => {
        log.push(`f${block}`);
        mem.readInto(block, dst);
      };
    },
    write(block, data) {
      mem.write(block, data);
    },
  };
  return { dev, log };
}

test('sequential misses start the next run before the current one is finished; random misses start nothing', () => {
  const bytes = pattern(256 * 512, 1);
  const { dev, log } = startable(bytes);
  const cache = new BlockCache(dev, { capacity: 64, readAhead: 8 });
  for (let b = 0; b < 200; b++) assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512));
  assert.ok(cache.stats.readsAhead >= 22, `runs started ahead: ${cache.stats.readsAhead}`);
  assert.equal(
    cache.stats.readsAheadUsed,
    cache.stats.readsAhead - 1,
    'every run started was used but the last',
  );
  // Steady state: run n+1 is started, then run n finished.
  const at = log.indexOf('f127');
  assert.ok(at > 0 && log[at - 1] === 's135+8', log.slice(at - 3, at + 2).join(' '));

  const started = cache.stats.readsAhead;
  // A miss inside the run under way, not at its start, reads its block alone and leaves the run.
  const under = Number(/^s(\d+)\+8$/.exec(log.filter((e) => e.startsWith('s')).at(-1) as string)?.[1]);
  log.length = 0;
  assert.deepEqual(readOne(cache, under + 3), bytes.subarray((under + 3) * 512, (under + 4) * 512));
  assert.deepEqual(log, [`r${under + 3}+1`]);
  assert.equal(cache.stats.readsAheadUsed, started - 1);
  log.length = 0;
  let x = 7;
  for (let i = 0; i < 100; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const b = x % 256;
    assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512));
  }
  assert.equal(cache.stats.readsAhead, started, 'random reads start no read ahead');
  assert.equal(cache.stats.readsAheadUsed, started - 1, 'nor take the one under way');
  assert.ok(!log.some((e) => e.startsWith('s')), log.join(' '));
  assert.ok(
    log.filter((e) => /^r\d+\+1$/.test(e)).length > 0.9 * log.length,
    'random misses mostly read their block alone (two in a row are sequential)',
  );
});

test('a write into a run being read ahead: the run is forgotten, the old contents never come back', () => {
  const bytes = pattern(64 * 512, 2);
  const { dev, log } = startable(bytes);
  const cache = new BlockCache(dev, { capacity: 18, readAhead: 8 });
  for (let b = 0; b < 16; b++) readOne(cache, b);
  assert.ok(log.includes('s23+8') && !log.includes('f23'), 'blocks 23..30 are being read ahead');
  const fresh = pattern(512, 99);
  cache.write?.(26, fresh);
  cache.flush();
  // Push block 26 out of the cache, then read it again.
  for (let b = 40; b < 64; b++) readOne(cache, b);
  assert.deepEqual(readOne(cache, 26), fresh);
  assert.ok(!log.includes('f23'), 'the run read ahead was never taken');
  for (let b = 16; b < 32; b++) {
    if (b !== 26) assert.deepEqual(readOne(cache, b), bytes.subarray(b * 512, (b + 1) * 512));
  }
});

/**
 * The ring as the enclave's devices see it, over an image in memory. Calls started ahead are
 * answered at `finish`; `tamper` may change the bytes of those replies only (the image stays intact,
 * as when a host lies in flight), or the image itself can be changed (a lie on disk).
 */
function deferringHost(image: Uint8Array) {
  const host = {
    started: 0,
    tamperedReplies: 0,
    tamper: undefined as undefined | ((offset: number, reply: Uint8Array) => void),
  };
  const answer = (r: BatchRequest, inFlight: boolean): Reply => {
    const [, offset, length] = r.args.map(Number);
    const into = r.into as Uint8Array;
    into.set(image.subarray(offset, offset + length));
    const data = into.subarray(0, length);
    if (inFlight && host.tamper) host.tamper(offset, data);
    return { result: BigInt(length), data };
  };
  const pending = new Map<DeferredCalls, readonly BatchRequest[]>();
  const channel = {
    call(): Reply {
      return { result: BigInt(image.length), data: new Uint8Array(0) };
    },
    callMany: (requests: readonly BatchRequest[]) => requests.map((r) => answer(r, false)),
    start(requests: readonly BatchRequest[]): DeferredCalls {
      host.started++;
      const batch = { slots: [], reaped: [] } as unknown as DeferredCalls;
      pending.set(batch, requests);
      return batch;
    },
    finish(batch: DeferredCalls): Reply[] {
      const requests = pending.get(batch) as readonly BatchRequest[];
      pending.delete(batch);
      return requests.map((r) => answer(r, true));
    },
  };
  return { host, channel: channel as unknown as HostChannel };
}

function openShielded(channel: HostChannel, rootHash: string, hashOffset: number): BlockCache {
  const verity = openVerity({ data: new HostBlockDevice(channel, 0, 512), rootHash, hashOffset });
  return new BlockCache(unlockLuks2(verity, 'pw'), { capacity: 64, readAhead: 16 });
}

test('through the host, dm-verity and LUKS2, sequential reads are served from runs started ahead', () => {
  const s = shieldedImage(160, 21);
  const { host, channel } = deferringHost(s.image);
  const cache = openShielded(channel, s.rootHash, s.hashOffset);
  for (let b = 0; b < 160; b++) {
    assert.deepEqual(readOne(cache, b), s.plain.subarray(b * 4096, (b + 1) * 4096), `block ${b}`);
  }
  assert.ok(cache.stats.readsAheadUsed >= 6, `runs used: ${cache.stats.readsAheadUsed}`);
  assert.equal(host.started, cache.stats.readsAhead, 'each run read ahead is one batch of host reads');
});

test('attack: a block tampered in the reply to a run read ahead is re-read; the reader gets the right data', () => {
  const s = shieldedImage(160, 21);
  const { host, channel } = deferringHost(s.image);
  const victim = s.dataOffset + 100 * 4096;
  host.tamper = (offset, reply) => {
    if (offset <= victim && victim < offset + reply.length) {
      reply[victim - offset + 7] ^= 0x40;
      host.tamperedReplies++;
    }
  };
  const cache = openShielded(channel, s.rootHash, s.hashOffset);
  for (let b = 0; b < 160; b++) {
    assert.deepEqual(readOne(cache, b), s.plain.subarray(b * 4096, (b + 1) * 4096), `block ${b}`);
  }
  assert.ok(host.tamperedReplies >= 1, 'the lie reached the enclave');
});

test('attack: a block tampered on disk fails alone, whether it comes in a run read ahead or on its own', () => {
  const s = shieldedImage(160, 21);
  s.image[s.dataOffset + 100 * 4096 + 7] ^= 0x40;
  const { channel } = deferringHost(s.image);
  const cache = openShielded(channel, s.rootHash, s.hashOffset);
  for (let b = 0; b < 160; b++) {
    if (b === 100) {
      assert.throws(() => readOne(cache, b), IntegrityError, 'the tampered block is an I/O error');
      continue;
    }
    assert.deepEqual(readOne(cache, b), s.plain.subarray(b * 4096, (b + 1) * 4096), `block ${b}`);
  }
  assert.ok(cache.stats.readsAhead >= 1);
  assert.throws(() => readOne(cache, 100), IntegrityError, 'and stays one');
});

test('data and tree on two devices: a tampered block in the run after the one being read fails alone', () => {
  const data = pattern(96 * 4096, 5);
  const tree = buildVerityTree((o, l) => data.subarray(o, o + l), 96, 0, {});
  data[70 * 4096 + 3] ^= 1;
  const verity = openVerity({
    data: new MemoryBlockDevice(data, 4096),
    hash: new MemoryBlockDevice(tree.hashArea, 4096),
    rootHash: tree.rootHash,
  });
  const cache = new BlockCache(verity, { capacity: 64, readAhead: 16 });
  for (let b = 0; b < 96; b++) {
    if (b === 70) assert.throws(() => readOne(cache, b), IntegrityError);
    else assert.deepEqual(readOne(cache, b), data.subarray(b * 4096, (b + 1) * 4096), `block ${b}`);
  }
  assert.ok(cache.stats.readsAhead >= 1);
});
