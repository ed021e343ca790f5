import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { Geometry, UNIT } from '../../src/common/volume/layout.ts';
import { formatVolume, openVolume } from '../../src/common/volume/volume.ts';
import { Crash, CrashingDevice, KEY, blockData, deviceFor, unitBytes } from './helpers.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const BLOCKS = 300;

/** Three commits touching two leaves, rewriting blocks within and across commits. */
const COMMITS: [block: number, seed: number][][] = [
  [
    [1, 2],
    [2, 2],
    [3, 2],
  ],
  [
    [2, 3],
    [150, 3],
    [1, 3],
    [1, 4],
  ],
  [[299, 5]],
];
const TOUCHED = [0, 1, 2, 3, 150, 299];

/** The committed image every run starts from: block 0 and 1 written once. */
function baseImage(): Uint8Array {
  const dev = deviceFor(BLOCKS);
  const vol = formatVolume(dev, KEY);
  vol.write(0, blockData(0, 1));
  vol.write(1, blockData(1, 1));
  vol.flush();
  return dev.bytes;
}

/** Expected contents of the touched blocks after the first `k` commits. */
function stateAfter(k: number): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>(TOUCHED.map((b) => [b, new Uint8Array(UNIT)]));
  m.set(0, blockData(0, 1));
  m.set(1, blockData(1, 1));
  for (const commit of COMMITS.slice(0, k)) for (const [b, seed] of commit) m.set(b, blockData(b, seed));
  return m;
}

/** Runs the session; returns the write count at the end of each commit. */
function session(dev: CrashingDevice): number[] {
  const vol = openVolume(dev, KEY);
  const ends: number[] = [];
  for (const commit of COMMITS) {
    for (const [b, seed] of commit) vol.write(b, blockData(b, seed));
    vol.flush();
    ends.push(dev.writes);
  }
  return ends;
}

for (const tear of [false, true]) {
  test(`a crash after every possible number of writes opens to the last commit (${tear ? 'torn last write' : 'clean cut'})`, () => {
    const base = baseImage();
    const ref = new CrashingDevice(new MemoryBlockDevice(base.slice(), 512));
    const ends = session(ref);
    const total = ref.writes;
    assert.ok(total >= 10, `session made ${total} writes`);
    for (let n = 0; n <= total; n++) {
      const image = new MemoryBlockDevice(base.slice(), 512);
      const dev = new CrashingDevice(image, n, tear);
      try {
        session(dev);
        assert.equal(n, total);
      } catch (e) {
        if (!(e instanceof Crash)) throw e;
      }
      const committed = ends.filter((end) => end <= n).length;
      const vol = openVolume(image, KEY);
      for (const [b, data] of stateAfter(committed))
        assert.deepEqual(
          readBlocks(vol, b, 1),
          data,
          `crash after ${n} writes: block ${b} != commit ${committed}`,
        );
      // The volume recovers: it takes writes and commits again.
      vol.write(2, blockData(2, 9));
      vol.flush();
      assert.deepEqual(readBlocks(openVolume(image, KEY), 2, 1), blockData(2, 9));
    }
  });
}

test('versions (hence GCM nonces) are not reused after a crash lost a session', () => {
  const geo = new Geometry(BLOCKS);
  const image = new MemoryBlockDevice(baseImage(), 512);
  const lost = openVolume(image, KEY);
  const p1 = blockData(5, 1);
  lost.write(5, p1); // never flushed: the process dies here
  const slot = [0, 1].find((s) => unitBytes(image, geo.dataUnit(5, s)).some((x) => x !== 0));
  assert.notEqual(slot, undefined);
  const c1 = unitBytes(image, geo.dataUnit(5, slot!)).slice();
  const next = openVolume(image, KEY);
  const p2 = blockData(5, 2);
  next.write(5, p2);
  const c2 = unitBytes(image, geo.dataUnit(5, slot!));
  // Under a repeated nonce, c1 ^ c2 would equal p1 ^ p2.
  assert.ok(c1.some((x, i) => (x ^ c2[i]) !== (p1[i] ^ p2[i])));
});

test('a whole-volume rollback makes versions recur, but the session salt keeps nonces apart', () => {
  const geo = new Geometry(BLOCKS);
  const base = baseImage();
  const image = new MemoryBlockDevice(base.slice(), 512);
  const first = openVolume(image, KEY);
  const p1 = blockData(5, 1);
  first.write(5, p1);
  first.flush();
  const slot = [0, 1].find((s) => unitBytes(image, geo.dataUnit(5, s)).some((x) => x !== 0));
  const c1 = unitBytes(image, geo.dataUnit(5, slot!)).slice();
  image.bytes.set(base); // the host restores the older image: the same version is handed out again
  const second = openVolume(image, KEY);
  const p2 = blockData(5, 2);
  second.write(5, p2);
  const c2 = unitBytes(image, geo.dataUnit(5, slot!));
  assert.ok(c1.some((x, i) => (x ^ c2[i]) !== (p1[i] ^ p2[i])));
});

test('a crash while formatting leaves a device that refuses to open', () => {
  const ref = new CrashingDevice(deviceFor(BLOCKS));
  formatVolume(ref, KEY);
  for (let n = 0; n < ref.writes; n++) {
    const image = deviceFor(BLOCKS);
    image.bytes.fill(0xee); // whatever the file held before
    assert.throws(() => formatVolume(new CrashingDevice(image, n), KEY), Crash);
    assert.throws(() => openVolume(image, KEY), /not a Cloister volume/);
  }
});
