// Rollback protection against a trusted generation record (the key broker's counter, here a record
// in memory): the order of disk commit and record, the crash window between them, and the fallback
// to an older superblock copy only when the record agrees it is current.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { BlockDeviceError } from '../../src/common/blockdev/types.ts';
import { openRecordedVolume, type GenerationRecord } from '../../src/enclave/volume/freshness.ts';
import { parseSuperblock } from '../../src/common/volume/superblock.ts';
import { RollbackError, formatVolume } from '../../src/common/volume/volume.ts';
import { KEY, UUID, blockData, deviceFor, flipBit, unitBytes } from './helpers.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const BLOCKS = 64;
const uuidHex = Buffer.from(UUID).toString('hex');

/** A monotonic record like the broker's: refuses to go back, can be made to fail. */
class MemoryRecord implements GenerationRecord {
  value = 0;
  failing = false;
  advances: number[] = [];
  recorded(uuid: string): number {
    assert.equal(uuid, uuidHex);
    return this.value;
  }
  advance(uuid: string, generation: number): void {
    assert.equal(uuid, uuidHex);
    if (this.failing) throw new Error('broker unreachable');
    if (generation < this.value) throw new Error(`decrease ${generation} < ${this.value}`);
    this.value = generation;
    this.advances.push(generation);
  }
}

const copyOf = (dev: MemoryBlockDevice) => new MemoryBlockDevice(dev.bytes.slice(), dev.blockSize);
const open = (dev: MemoryBlockDevice, record: GenerationRecord) =>
  openRecordedVolume(dev, KEY, record, { expectedUuid: UUID });
const generationOn = (dev: MemoryBlockDevice) =>
  Math.max(...[0, 1].map((s) => parseSuperblock(unitBytes(dev, s))?.generation ?? 0));

function formatted(): MemoryBlockDevice {
  const dev = deviceFor(BLOCKS);
  formatVolume(dev, KEY, { uuid: UUID });
  return dev;
}

test('every commit is recorded after it reaches the disk; an older copy of the volume is refused, naming both generations', () => {
  const dev = formatted();
  const record = new MemoryRecord();
  const vol = open(dev, record);
  assert.equal(record.value, generationOn(dev), 'the first open records the generation found');
  vol.write(3, blockData(3, 1));
  vol.flush();
  const old = copyOf(dev);
  const oldGeneration = generationOn(dev);
  assert.equal(record.value, oldGeneration);
  vol.write(3, blockData(3, 2));
  vol.flush();
  assert.equal(record.value, generationOn(dev));
  assert.ok(record.value > oldGeneration);
  assert.throws(
    () => open(old, record),
    (e) =>
      e instanceof RollbackError &&
      e.found === oldGeneration &&
      e.recorded === record.value &&
      e.message.includes(`generation ${oldGeneration} on disk is older than generation ${record.value}`) &&
      /rolled back/.test(e.message),
  );
  assert.deepEqual(readBlocks(open(dev, record), 3, 1), blockData(3, 2));
});

test('a crash between the disk commit and the record never locks the user out: the disk ahead is accepted and recorded', () => {
  const dev = formatted();
  const record = new MemoryRecord();
  const vol = open(dev, record);
  vol.write(5, blockData(5, 1));
  record.failing = true;
  assert.throws(
    () => vol.flush(),
    (e) => e instanceof BlockDeviceError && /could not be recorded/.test(e.message),
  );
  assert.throws(() => readBlocks(vol, 5, 1), /unusable, its last commit was not recorded/, 'fails closed');
  const ahead = generationOn(dev);
  assert.ok(ahead > record.value, 'the commit is on disk, the record is behind');
  record.failing = false;
  const reopened = open(dev, record);
  assert.deepEqual(readBlocks(reopened, 5, 1), blockData(5, 1), 'the commit is kept');
  assert.equal(record.value, ahead, 'and recorded at the next open');
});

test('a damaged newest superblock falls back to the older copy only when the record agrees that it is current', () => {
  const dev = formatted();
  const record = new MemoryRecord();
  const vol = open(dev, record);
  vol.write(1, blockData(1, 1));
  vol.flush();
  const newest = [0, 1].reduce((a, s) =>
    (parseSuperblock(unitBytes(dev, s))?.generation ?? 0) >
    (parseSuperblock(unitBytes(dev, a))?.generation ?? 0)
      ? s
      : a,
  );
  const damaged = copyOf(dev);
  flipBit(damaged, newest, 60);
  // The record holds the newest generation: the older copy is a rollback.
  assert.throws(
    () => open(copyOf(damaged), record),
    (e) => e instanceof RollbackError && /newest superblock copy is damaged/.test(e.message),
  );
  // The record is one behind (a crash before it advanced): the older copy is what it knows as current.
  const behind = new MemoryRecord();
  behind.value = record.value - 1;
  const fallback = open(copyOf(damaged), behind);
  assert.equal(fallback.volume.generation, record.value - 1);
});

test('a record that refuses to advance (it holds more than the disk) stops the open', () => {
  const dev = formatted();
  const record = new MemoryRecord();
  record.value = 1000;
  assert.throws(
    () => open(dev, record),
    (e) => e instanceof RollbackError && e.recorded === 1000,
  );
});
