/**
 * The kept contents of one host file (vfs/hostdir-blocks.ts) against a plain byte array standing
 * for the host file: random reads, writes and truncations, each read answered from the blocks or,
 * on a miss, fetched from the model as `hostdir-cache.ts` fetches; every answer must equal the
 * model's bytes, also at and past the end of the file and with a budget small enough to evict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockBudget, FILE_BLOCK, FileBlocks } from '../../src/enclave/vfs/hostdir-blocks.ts';

/** A seeded generator (mulberry32), so a failure replays. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

class ModelFile {
  bytes = new Uint8Array(0);
  write(offset: number, data: Uint8Array): void {
    if (offset + data.length > this.bytes.length) this.resize(offset + data.length);
    this.bytes.set(data, offset);
  }
  resize(size: number): void {
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, size));
    this.bytes = next;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(
      Math.min(offset, this.bytes.length),
      Math.min(offset + length, this.bytes.length),
    );
  }
}

/** A read as the cache makes it: from the blocks, else the whole blocks around it from the "host". */
function readThrough(blocks: FileBlocks, host: ModelFile, offset: number, length: number): Uint8Array {
  const kept = blocks.read(offset, length);
  if (kept !== null) return kept;
  const first = Math.floor(offset / FILE_BLOCK);
  const asked = Math.ceil((offset + length) / FILE_BLOCK) * FILE_BLOCK - first * FILE_BLOCK;
  const data = host.read(first * FILE_BLOCK, asked);
  blocks.fill(first, data, asked);
  const from = Math.min(offset - first * FILE_BLOCK, data.length);
  return data.subarray(from, Math.min(from + length, data.length));
}

for (const [name, maxBlocks] of [
  ['room for every block', 1000],
  ['a budget of 3 blocks', 3],
] as const) {
  test(`reads through the kept blocks equal the file after random writes and truncations (${name})`, () => {
    for (const seed of [1, 2, 3, 4]) {
      const next = random(seed);
      const host = new ModelFile();
      const budget = new BlockBudget(maxBlocks);
      const blocks = new FileBlocks(budget);
      let hits = 0;
      for (let step = 0; step < 3000; step++) {
        const op = next(10);
        const offset = next(6 * FILE_BLOCK);
        if (op < 5) {
          const length = 1 + next(2 * FILE_BLOCK);
          const before = budget.used;
          const got = readThrough(blocks, host, offset, length);
          if (blocks.read(offset, length) !== null && budget.used === before) hits++;
          assert.deepEqual(
            got,
            host.read(offset, length),
            `seed ${seed} step ${step}: read ${offset}+${length}`,
          );
        } else if (op < 9) {
          const data = Uint8Array.from({ length: 1 + next(FILE_BLOCK + 100) }, () => 1 + next(255));
          host.write(offset, data);
          blocks.write(offset, data);
        } else {
          host.resize(offset);
          blocks.truncate(offset);
        }
        assert.ok(budget.used <= maxBlocks && budget.used >= 0);
      }
      assert.ok(hits > 100, `seed ${seed}: only ${hits} reads were answered from the blocks`);
    }
  });
}

test('a short answer ends the file: blocks kept after it go, and a read past the end in its block is empty', () => {
  const budget = new BlockBudget(100);
  const blocks = new FileBlocks(budget);
  blocks.fill(0, new Uint8Array(3 * FILE_BLOCK).fill(7), 3 * FILE_BLOCK);
  assert.equal(blocks.size, 3);
  // The host now says the file ends 10 bytes into block 1 (another process cut it).
  blocks.fill(1, new Uint8Array(10).fill(8), FILE_BLOCK);
  assert.equal(blocks.size, 2);
  assert.deepEqual(blocks.read(FILE_BLOCK, 100), new Uint8Array(10).fill(8));
  assert.deepEqual(blocks.read(FILE_BLOCK + 20, 5), new Uint8Array(0));
  assert.equal(blocks.read(2 * FILE_BLOCK, 1), null);
  // An answer longer than asked is never kept.
  blocks.fill(5, new Uint8Array(FILE_BLOCK + 1), FILE_BLOCK);
  assert.equal(blocks.read(5 * FILE_BLOCK, 1), null);
  blocks.release();
  assert.equal(budget.used, 0);
  assert.equal(budget.files.size, 0);
});
