// A volume's requests to the device below (each a host round trip in the enclave): the blocks of one
// read, of one write and the tree nodes of one commit each go down in one request, and each block of
// a batched read is still authenticated on its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlockDevice, BlockTransfer } from '../../src/common/blockdev/types.ts';
import { IntegrityError } from '../../src/common/blockdev/types.ts';
import { formatVolume, openVolume } from '../../src/common/volume/volume.ts';
import { UNIT } from '../../src/common/volume/layout.ts';
import { KEY, UUID, blockData, deviceFor } from './helpers.ts';

/** The raw device with vectored transfers, recording each request ('read', 'write' or 'flush'). */
function recording(blocks: number) {
  const inner = deviceFor(blocks);
  const log: string[] = [];
  const dev: BlockDevice = {
    blockSize: inner.blockSize,
    blockCount: inner.blockCount,
    readInto: (block, data) => {
      log.push('read 1');
      inner.readInto(block, data);
    },
    readIntoMany: (reads: readonly BlockTransfer[]) => {
      log.push(`read ${reads.length}`);
      for (const r of reads) inner.readInto(r.block, r.data);
    },
    write: (block, data) => {
      log.push('write 1');
      inner.write(block, data);
    },
    writeMany: (writes: readonly BlockTransfer[]) => {
      log.push(`write ${writes.length}`);
      for (const w of writes) inner.write(w.block, w.data);
    },
    flush: () => log.push('flush'),
  };
  return { dev, inner, log };
}

test('one read, one write and one commit are one request each below', () => {
  const { dev, log } = recording(4096);
  const vol = formatVolume(dev, KEY, { uuid: UUID });
  vol.write(0, blockData(0, 1)); // the first write reserves versions (a superblock write of its own)
  vol.flush();
  const eight = new Uint8Array(8 * UNIT);
  for (let i = 0; i < 8; i++) eight.set(blockData(100 + i, 1), i * UNIT);
  log.length = 0;
  vol.write(100, eight);
  assert.deepEqual(log, ['write 8']);
  log.length = 0;
  vol.flush();
  assert.deepEqual(
    log,
    ['write 2', 'flush', 'write 1', 'flush'],
    'leaf and root together, then the superblock',
  );

  const again = openVolume(dev, KEY);
  log.length = 0;
  const back = new Uint8Array(10 * UNIT);
  again.readInto(99, back);
  assert.deepEqual(log, ['read 8'], 'the never-written blocks 99 and 108 are not read');
  assert.deepEqual(back.subarray(UNIT, 9 * UNIT), eight);
  assert.deepEqual(back.subarray(0, UNIT), new Uint8Array(UNIT));
});

test('a block tampered with inside a batched read fails that read, naming the block', () => {
  const { dev, inner } = recording(4096);
  const vol = formatVolume(dev, KEY, { uuid: UUID });
  for (let i = 0; i < 8; i++) vol.write(200 + i, blockData(200 + i, 2));
  vol.flush();
  // Find block 205's ciphertext by writing it once more and seeing which sector changes.
  const before = inner.bytes.slice();
  vol.write(205, blockData(205, 3));
  const changed = inner.bytes.findIndex((b, i) => b !== before[i]);
  const committedSlot = changed - (changed % UNIT) + (changed % UNIT < UNIT / 2 ? UNIT : -UNIT);
  inner.bytes.set(before); // back to the committed state, before the rewrite
  const fresh = openVolume(dev, KEY);
  inner.bytes[committedSlot + 17] ^= 1;
  assert.throws(
    () => fresh.readInto(200, new Uint8Array(8 * UNIT)),
    (e: unknown) => e instanceof IntegrityError && e.block === 205,
  );
  const other = new Uint8Array(UNIT);
  fresh.readInto(204, other);
  assert.deepEqual(other, blockData(204, 2));
});
