import type { BlockDevice } from './device.ts';
import { Errno, WasiError } from '../../interface/errno.ts';

/** Counters of a {@link BlockCache}, for tests and benchmarks. */
export interface CacheStats {
  hits: number;
  misses: number;
  deviceReads: number;
  deviceWrites: number;
}

/**
 * A bounded write-back LRU cache of device blocks that serves byte ranges. libext2fs's io_manager
 * has no cache and reads files one block per call, and it also reads and writes pieces smaller than
 * a block (the superblock), so this sits between it and the device. Sequential misses grow a
 * read-ahead window so that one device call fetches many blocks.
 */
export class BlockCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, deviceReads: 0, deviceWrites: 0 };
  private readonly blocks = new Map<number, { data: Uint8Array; dirty: boolean }>();
  private readonly blockSize: number;
  private readonly blockCount: number;
  private nextSequential = -1;
  private window = 1;

  constructor(
    private readonly device: BlockDevice,
    private readonly capacity = 1024,
    private readonly maxReadAhead = 32,
  ) {
    const bs = device.blockSize;
    if (!Number.isInteger(bs) || bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0) {
      throw new WasiError(Errno.INVAL, `ext4: device block size ${bs} is not a power of two in 512..65536`);
    }
    this.blockSize = bs;
    this.blockCount = Math.floor(device.sizeBytes / bs);
    this.capacity = Math.max(capacity, maxReadAhead + 2);
  }

  /** Fills `dst` with the device bytes at `offset`. */
  read(offset: number, dst: Uint8Array): void {
    this.checkRange(offset, dst.length);
    const bs = this.blockSize;
    let done = 0;
    while (done < dst.length) {
      const pos = offset + done;
      const index = Math.floor(pos / bs);
      const within = pos - index * bs;
      const n = Math.min(bs - within, dst.length - done);
      dst.set(this.block(index).subarray(within, within + n), done);
      done += n;
    }
  }

  /** Writes `src` at `offset` into the cache (read-modify-write of partial blocks). */
  write(offset: number, src: Uint8Array): void {
    this.checkRange(offset, src.length);
    const bs = this.blockSize;
    let done = 0;
    while (done < src.length) {
      const pos = offset + done;
      const index = Math.floor(pos / bs);
      const within = pos - index * bs;
      const n = Math.min(bs - within, src.length - done);
      let entry = this.blocks.get(index);
      if (!entry && n === bs) entry = { data: new Uint8Array(bs), dirty: true };
      if (!entry) {
        this.block(index);
        entry = this.blocks.get(index) as { data: Uint8Array; dirty: boolean };
      }
      this.blocks.delete(index);
      entry.data.set(src.subarray(done, done + n), within);
      entry.dirty = true;
      this.blocks.set(index, entry);
      this.evict();
      done += n;
    }
  }

  /** Writes every dirty block back (in block order, adjacent ones in one call), then flushes the device. */
  flush(): void {
    const dirty = [...this.blocks.entries()].filter(([, e]) => e.dirty).sort((a, b) => a[0] - b[0]);
    let i = 0;
    while (i < dirty.length) {
      let j = i + 1;
      while (j < dirty.length && dirty[j][0] === dirty[j - 1][0] + 1 && j - i < 64) j++;
      const run = new Uint8Array((j - i) * this.blockSize);
      for (let k = i; k < j; k++) run.set(dirty[k][1].data, (k - i) * this.blockSize);
      this.device.write(dirty[i][0] * this.blockSize, run);
      this.stats.deviceWrites++;
      for (let k = i; k < j; k++) dirty[k][1].dirty = false;
      i = j;
    }
    this.device.flush();
  }

  /** Drops clean blocks (dirty ones are kept until flushed). */
  dropClean(): void {
    for (const [index, entry] of this.blocks) if (!entry.dirty) this.blocks.delete(index);
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.blockCount * this.blockSize) {
      throw new WasiError(
        Errno.IO,
        `ext4: access to bytes ${offset}..${offset + length} beyond the device (${this.blockCount * this.blockSize} bytes)`,
      );
    }
  }

  private block(index: number): Uint8Array {
    const hit = this.blocks.get(index);
    if (hit) {
      this.stats.hits++;
      this.blocks.delete(index);
      this.blocks.set(index, hit);
      return hit.data;
    }
    this.stats.misses++;
    this.window = index === this.nextSequential ? Math.min(this.window * 2, this.maxReadAhead) : 1;
    let count = 1;
    while (count < this.window && index + count < this.blockCount && !this.blocks.has(index + count)) count++;
    let bytes: Uint8Array;
    try {
      bytes = this.fetch(index, count);
    } catch (error) {
      if (count === 1) throw error;
      // Read-ahead is a guess: a block nobody asked for that fails (tampered, say) must not fail this
      // read. As Linux drops failed read-ahead pages, read only the requested block; a later read of
      // the bad block fails on its own.
      this.window = 1;
      count = 1;
      bytes = this.fetch(index, 1);
    }
    this.nextSequential = index + count;
    const bs = this.blockSize;
    let first: Uint8Array | undefined;
    for (let k = 0; k < count; k++) {
      const data = bytes.slice(k * bs, (k + 1) * bs);
      if (k === 0) first = data;
      this.blocks.set(index + k, { data, dirty: false });
    }
    // Keep the requested block most recent so eviction below cannot drop it.
    this.blocks.delete(index);
    this.blocks.set(index, { data: first as Uint8Array, dirty: false });
    this.evict();
    return first as Uint8Array;
  }

  /** Reads `count` blocks from `index`, checking the reply's length. */
  private fetch(index: number, count: number): Uint8Array {
    const bs = this.blockSize;
    const bytes = this.device.read(index * bs, count * bs);
    this.stats.deviceReads++;
    if (!(bytes instanceof Uint8Array) || bytes.length !== count * bs) {
      throw new WasiError(
        Errno.IO,
        `ext4: device returned ${bytes?.length} bytes for ${count * bs} at block ${index}`,
      );
    }
    return bytes;
  }

  private evict(): void {
    while (this.blocks.size > this.capacity) {
      const [index, entry] = this.blocks.entries().next().value as [
        number,
        { data: Uint8Array; dirty: boolean },
      ];
      this.blocks.delete(index);
      if (entry.dirty) {
        this.device.write(index * this.blockSize, entry.data);
        this.stats.deviceWrites++;
      }
    }
  }
}
