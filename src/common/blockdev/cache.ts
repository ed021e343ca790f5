import { checkBlockSize, checkTransfer } from './io.ts';
import type { BlockDevice, BlockTransfer } from './types.ts';

/** Counters of a {@link BlockCache}, for tests and benchmarks. */
export interface CacheStats {
  hits: number;
  misses: number;
  deviceReads: number;
  deviceWrites: number;
  /** Reads of the next run started ahead (see `BlockCache`), and how many of them were used. */
  readsAhead: number;
  readsAheadUsed: number;
}

/** How a {@link BlockCache} is sized. */
export interface CacheOptions {
  /** Most bytes of block data held, counted in blocks (default 1024). */
  capacity?: number;
  /** Most blocks one sequential miss reads ahead (default 32). */
  readAhead?: number;
}

/** One device read that blocks are views of: its memory lives while any of them is cached. */
interface Run {
  readonly bytes: number;
  live: number;
  /** The read's buffer, reused for a later read once no cached block is a view of it. */
  readonly buffer?: Uint8Array;
}

interface Entry {
  data: Uint8Array;
  dirty: boolean;
  run: Run;
}

/** A read of the next sequential run, started before anyone asked for it. */
interface Ahead {
  readonly index: number;
  readonly count: number;
  readonly buffer: Uint8Array;
  /** Waits for the read and checks it (see `BlockDevice.startReadInto`); throws as a read would. */
  readonly finish: () => void;
}

/** Spare read buffers kept, in bytes: this many full read-ahead runs. */
const SPARE_RUNS = 4;

/** Most blocks one write below carries (write-back at flush and at eviction). */
const WRITE_RUN = 64;

/**
 * The block layer's cache (the top of the stack in DESIGN.md: cache → dm-crypt → dm-verity → host):
 * a bounded write-back LRU of whole blocks. Sequential misses grow a read-ahead window so that one
 * read below fetches many blocks, and that read lands straight in the memory the cache keeps: each
 * cached block is a view of the buffer the read filled, never a copy. Memory is bounded by the
 * buffers still referenced, not by the block count, so a hot block cannot pin unbounded runs.
 *
 * Once a stream of misses is sequential at the full window, and the device below can start a read
 * and finish it later (`startReadInto`: the host's reads, through dm-verity and dm-crypt), the next
 * run is started as soon as the current one is taken, before the current one is checked and
 * decrypted: the host reads run n+1 while the enclave verifies and decrypts run n. A run started
 * ahead is checked exactly as any read when it is taken; if it fails, only the requested block is
 * read again on its own (as for any read-ahead), so a tampered reply is an I/O error for that block
 * and never data. Random misses read only their block and start nothing, even one that lands in
 * the run read ahead: only the stream arriving at its first block takes it.
 */
export class BlockCache implements BlockDevice {
  readonly stats: CacheStats = {
    hits: 0,
    misses: 0,
    deviceReads: 0,
    deviceWrites: 0,
    readsAhead: 0,
    readsAheadUsed: 0,
  };
  readonly blockSize: number;
  readonly blockCount: number;
  private readonly blocks = new Map<number, Entry>();
  private readonly capacityBytes: number;
  private readonly maxReadAhead: number;
  private heldBytesNow = 0;
  private nextSequential = -1;
  private window = 1;
  /**
   * Buffers of reads whose blocks have all left the cache, by length, for the next reads of that
   * length: a fresh buffer costs zeroing and page faults, and its garbage collection, at every miss.
   */
  private readonly spare = new Map<number, Uint8Array[]>();
  private spareBytesNow = 0;
  /** The run read ahead, if one is under way. */
  private ahead: Ahead | undefined;

  constructor(
    private readonly device: BlockDevice,
    options: CacheOptions = {},
  ) {
    checkBlockSize(device.blockSize);
    this.blockSize = device.blockSize;
    this.blockCount = device.blockCount;
    this.maxReadAhead = Math.max(1, options.readAhead ?? 32);
    const capacity = Math.max(options.capacity ?? 1024, 2 * this.maxReadAhead + 2);
    this.capacityBytes = capacity * this.blockSize;
    if (device.write) this.write = this.writeBlocks;
  }

  readInto(block: number, dst: Uint8Array): void {
    const count = checkTransfer(this, block, dst);
    const bs = this.blockSize;
    for (let k = 0; k < count; k++) dst.set(this.block(block + k), k * bs);
  }

  /** Present when the device below is writable. */
  write?: (block: number, data: Uint8Array) => void;

  private writeBlocks(block: number, data: Uint8Array): void {
    const count = checkTransfer(this, block, data);
    const bs = this.blockSize;
    for (let k = 0; k < count; k++) {
      const src = data.subarray(k * bs, (k + 1) * bs);
      const entry = this.blocks.get(block + k);
      // A run read ahead from before this write would bring the old contents back: forget it. Its
      // buffer is never reused, since its replies may still land in it.
      const ahead = this.ahead;
      if (ahead && block + k >= ahead.index && block + k < ahead.index + ahead.count) this.ahead = undefined;
      if (entry) {
        this.blocks.delete(block + k);
        entry.data.set(src);
        entry.dirty = true;
        this.blocks.set(block + k, entry);
      } else {
        this.insert(block + k, Uint8Array.from(src), true, this.newRun(bs));
      }
      this.evict();
    }
  }

  /**
   * Writes every dirty block back (in block order, adjacent ones in one piece, all pieces in one
   * request when the device below takes vectored writes), then flushes below.
   */
  flush(): void {
    this.writeBack([...this.blocks.entries()].filter(([, e]) => e.dirty));
    this.device.flush?.();
  }

  /** Bytes of block data the cache keeps alive (at most its capacity, plus one read). */
  get heldBytes(): number {
    return this.heldBytesNow;
  }

  /** Bytes of read buffers kept for reuse (at most four full read-ahead runs). */
  get spareBytes(): number {
    return this.spareBytesNow;
  }

  /** Drops clean blocks (dirty ones are kept until flushed). */
  dropClean(): void {
    for (const [index, entry] of this.blocks) if (!entry.dirty) this.drop(index, entry);
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
    // Only the sequential stream arriving takes the run read ahead: a random miss that lands in it
    // would pay the checks of the whole run (and start another) for one block.
    const ahead = this.ahead;
    if (ahead && index === ahead.index) return this.takeAhead(ahead, index);
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
    const data = this.keep(index, count, bytes, index);
    if (count === this.maxReadAhead) this.readAhead(this.nextSequential);
    return data;
  }

  /**
   * Serves a miss from the run read ahead: starts the next run first (the device below reads it
   * while this one is checked), then finishes this one and caches it.
   */
  private takeAhead(ahead: Ahead, index: number): Uint8Array {
    this.ahead = undefined;
    const end = ahead.index + ahead.count;
    this.readAhead(end);
    try {
      ahead.finish();
    } catch {
      // As for a failed read-ahead: the requested block alone, read again (it fails on its own if it
      // is bad). The failed run's buffer is dropped, not reused: replies may still land in it.
      this.window = 1;
      const bytes = this.fetch(index, 1);
      this.nextSequential = index + 1;
      return this.keep(index, 1, bytes, index);
    }
    this.stats.deviceReads++;
    this.stats.readsAheadUsed++;
    this.nextSequential = end;
    return this.keep(ahead.index, ahead.count, ahead.buffer, index);
  }

  /** Starts reading the `maxReadAhead` blocks from `start`, when the device below can start reads. */
  private readAhead(start: number): void {
    const count = Math.min(this.maxReadAhead, this.blockCount - start);
    if (!this.device.startReadInto || count <= 0) return;
    const length = count * this.blockSize;
    const buffer = this.takeSpare(length);
    this.ahead = { index: start, count, buffer, finish: this.device.startReadInto(start, buffer) };
    this.stats.readsAhead++;
  }

  /**
   * Caches blocks `first .. first+count` of `bytes` (views of it; blocks already cached keep their
   * entry) and returns `requested`, inserted last: the most recent, so eviction cannot drop it.
   */
  private keep(first: number, count: number, bytes: Uint8Array, requested: number): Uint8Array {
    const bs = this.blockSize;
    const run: Run = { bytes: bytes.length, live: 0, buffer: bytes };
    for (let k = 0; k < count; k++) {
      if (first + k !== requested && !this.blocks.has(first + k)) {
        this.insert(first + k, bytes.subarray(k * bs, (k + 1) * bs), false, run);
      }
    }
    const at = (requested - first) * bs;
    const data = bytes.subarray(at, at + bs);
    this.insert(requested, data, false, run);
    this.evict();
    return data;
  }

  /**
   * Reads `count` blocks from `index` into a buffer (a spare one, or new) that the cached blocks will
   * be views of. A failed read's buffer goes back to the spares: the next read overwrites it whole.
   */
  private fetch(index: number, count: number): Uint8Array {
    const length = count * this.blockSize;
    const bytes = this.takeSpare(length);
    try {
      this.device.readInto(index, bytes);
    } catch (error) {
      this.keepSpare(bytes);
      throw error;
    }
    this.stats.deviceReads++;
    return bytes;
  }

  /**
   * Keeps `buffer` for reuse while the spares stay within `SPARE_RUNS` full runs (runs cut short at
   * cached blocks come in every length, so the bound is on bytes, not on buffers per length).
   */
  private keepSpare(buffer: Uint8Array): void {
    if (this.spareBytesNow + buffer.length > SPARE_RUNS * this.maxReadAhead * this.blockSize) return;
    let list = this.spare.get(buffer.length);
    if (!list) this.spare.set(buffer.length, (list = []));
    list.push(buffer);
    this.spareBytesNow += buffer.length;
  }

  /** A spare buffer of `length` bytes, else a new one. */
  private takeSpare(length: number): Uint8Array {
    const spare = this.spare.get(length)?.pop();
    if (!spare) return new Uint8Array(length);
    this.spareBytesNow -= length;
    return spare;
  }

  private newRun(bytes: number): Run {
    return { bytes, live: 0 };
  }

  private insert(index: number, data: Uint8Array, dirty: boolean, run: Run): void {
    if (run.live++ === 0) this.heldBytesNow += run.bytes;
    this.blocks.set(index, { data, dirty, run });
  }

  private drop(index: number, entry: Entry): void {
    this.blocks.delete(index);
    if (--entry.run.live === 0) {
      this.heldBytesNow -= entry.run.bytes;
      // No cached block is a view of the buffer any more, and readInto hands out copies only.
      if (entry.run.buffer) this.keepSpare(entry.run.buffer);
    }
  }

  /** Writes `dirty` back in block order, adjacent blocks in one piece, and marks them clean. */
  private writeBack(dirty: [number, Entry][]): void {
    dirty.sort((a, b) => a[0] - b[0]);
    const bs = this.blockSize;
    const pieces: BlockTransfer[] = [];
    let i = 0;
    while (i < dirty.length) {
      let j = i + 1;
      while (j < dirty.length && dirty[j][0] === dirty[j - 1][0] + 1 && j - i < WRITE_RUN) j++;
      // One block goes as it is (the device copies what it keeps); a run is gathered into one buffer.
      let data = dirty[i][1].data;
      if (j - i > 1) {
        data = new Uint8Array((j - i) * bs);
        for (let k = i; k < j; k++) data.set(dirty[k][1].data, (k - i) * bs);
      }
      pieces.push({ block: dirty[i][0], data });
      i = j;
    }
    const device = this.device;
    if (device.writeMany && pieces.length > 1) {
      device.writeMany(pieces);
      this.stats.deviceWrites++;
    } else {
      for (const p of pieces) {
        (device.write as (block: number, data: Uint8Array) => void)(p.block, p.data);
        this.stats.deviceWrites++;
      }
    }
    for (const [, entry] of dirty) entry.dirty = false;
  }

  /**
   * Evicts least recently used blocks until the buffers still referenced fit the capacity. A dirty
   * victim is written back together with the next least recently used dirty blocks (up to
   * `WRITE_RUN`, which stay cached, clean): one request below instead of one per evicted block.
   */
  private evict(): void {
    while (this.heldBytesNow > this.capacityBytes && this.blocks.size > 1) {
      const [index, entry] = this.blocks.entries().next().value as [number, Entry];
      if (entry.dirty) this.writeBack(this.oldestDirty(WRITE_RUN));
      this.drop(index, entry);
    }
  }

  /** Up to `count` dirty blocks, least recently used first. */
  private oldestDirty(count: number): [number, Entry][] {
    const found: [number, Entry][] = [];
    for (const pair of this.blocks) {
      if (pair[1].dirty) found.push(pair);
      if (found.length === count) break;
    }
    return found;
  }
}
