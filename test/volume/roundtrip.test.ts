import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WrongKeyError } from '../../src/common/blockdev/luks2.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { BlockDeviceError, FormatError, IntegrityError } from '../../src/common/blockdev/types.ts';
import { Geometry, UNIT } from '../../src/common/volume/layout.ts';
import { formatVolume, openVolume } from '../../src/common/volume/volume.ts';
import { KEY, UUID, blockData, deviceFor, rawDevice } from './helpers.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

test('written blocks read back, before and after a flush and a reopen; others read as zeros', () => {
  const dev = deviceFor(200);
  const vol = formatVolume(dev, KEY, { uuid: UUID });
  assert.equal(vol.blockCount, 200);
  assert.equal(vol.blockSize, UNIT);
  assert.deepEqual(vol.uuid, UUID);
  assert.deepEqual(readBlocks(vol, 0, 3), new Uint8Array(3 * UNIT));
  const run = new Uint8Array(3 * UNIT);
  for (let i = 0; i < 3; i++) run.set(blockData(10 + i, 1), i * UNIT);
  vol.write(10, run);
  vol.write(199, blockData(199, 1));
  assert.deepEqual(readBlocks(vol, 10, 3), run);
  vol.flush();
  const again = openVolume(dev, KEY);
  assert.equal(again.generation, vol.generation);
  assert.deepEqual(readBlocks(again, 10, 3), run);
  assert.deepEqual(readBlocks(again, 199, 1), blockData(199, 1));
  assert.deepEqual(readBlocks(again, 13, 1), new Uint8Array(UNIT));
});

test('writes not flushed are absent after a reopen; rewriting a block within one commit works', () => {
  const dev = deviceFor(64);
  const vol = formatVolume(dev, KEY);
  vol.write(1, blockData(1, 1));
  vol.flush();
  for (let seed = 2; seed < 6; seed++) vol.write(1, blockData(1, seed));
  vol.write(2, blockData(2, 2));
  assert.deepEqual(
    readBlocks(openVolume(dev, KEY), 1, 2),
    new Uint8Array([...blockData(1, 1), ...new Uint8Array(UNIT)]),
  );
  vol.flush();
  const again = openVolume(dev, KEY);
  assert.deepEqual(readBlocks(again, 1, 1), blockData(1, 5));
  assert.deepEqual(readBlocks(again, 2, 1), blockData(2, 2));
});

test('many commits and sessions agree with a model (multi-level tree)', () => {
  const blocks = 9000; // 71 leaves, 2 inner nodes, a root: three levels
  assert.equal(new Geometry(blocks).levels, 3);
  const dev = deviceFor(blocks);
  let vol = formatVolume(dev, KEY);
  const model = new Map<number, number>();
  let x = 12345;
  const rand = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x % n;
  };
  for (let step = 1; step <= 400; step++) {
    const b = rand(blocks);
    vol.write(b, blockData(b, step));
    model.set(b, step);
    if (step % 37 === 0) vol.flush();
    if (step % 111 === 0) {
      vol.flush();
      const gen = vol.generation;
      vol = openVolume(dev, KEY, { minGeneration: gen });
    }
  }
  vol.flush();
  vol = openVolume(dev, KEY);
  for (const [b, seed] of model) assert.deepEqual(readBlocks(vol, b, 1), blockData(b, seed), `block ${b}`);
});

test('the generation grows with each commit; a flush with nothing written changes nothing', () => {
  const dev = deviceFor(16);
  const vol = formatVolume(dev, KEY);
  assert.equal(vol.generation, 1);
  vol.flush();
  assert.equal(vol.generation, 1);
  vol.write(0, blockData(0, 1));
  vol.flush();
  const g = vol.generation;
  assert.ok(g > 1);
  vol.write(0, blockData(0, 2));
  vol.flush();
  assert.equal(vol.generation, g + 1);
});

test('a wrong key is a WrongKeyError, not integrity noise', () => {
  const dev = deviceFor(16);
  formatVolume(dev, KEY).flush();
  const wrong = new Uint8Array(32).fill(8);
  assert.throws(() => openVolume(dev, wrong), WrongKeyError);
  assert.throws(() => openVolume(dev, wrong), /wrong volume key/);
  assert.throws(() => openVolume(dev, new Uint8Array(16)), /32 bytes/);
});

test('a volume with another UUID is refused when the caller pins one', () => {
  const dev = deviceFor(16);
  formatVolume(dev, KEY, { uuid: UUID });
  assert.throws(() => openVolume(dev, KEY, { expectedUuid: new Uint8Array(16) }), IntegrityError);
  openVolume(dev, KEY, { expectedUuid: UUID });
});

test('writes outside the volume or of partial blocks are clear errors', () => {
  const vol = formatVolume(deviceFor(16), KEY);
  assert.throws(() => vol.write(16, blockData(0, 1)), /beyond the end/);
  assert.throws(() => vol.write(15, new Uint8Array(2 * UNIT)), BlockDeviceError);
  assert.throws(() => vol.write(-1, blockData(0, 1)), BlockDeviceError);
  assert.throws(() => vol.write(0, new Uint8Array(100)), /whole number of blocks/);
  assert.throws(() => readBlocks(vol, 15, 2), /beyond the end/);
});

test('read-only opens refuse writes; 4 KiB devices work; a device that is not a volume is refused', () => {
  const dev = new MemoryBlockDevice(new Uint8Array(new Geometry(32).totalUnits * UNIT), UNIT);
  formatVolume(dev, KEY).write(3, blockData(3, 1));
  const ro = openVolume(dev, KEY, { readOnly: true });
  assert.throws(() => ro.write(0, blockData(0, 1)), /read-only/);
  assert.throws(() => openVolume(rawDevice(8), KEY), FormatError);
  assert.throws(() => openVolume(rawDevice(8), KEY), /not a Cloister volume/);
  assert.throws(() => formatVolume(rawDevice(3), KEY), /too small/);
  assert.equal(formatVolume(rawDevice(100), KEY).blockCount, Geometry.maxBlocksFor(100));
});
