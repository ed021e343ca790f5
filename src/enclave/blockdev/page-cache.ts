/**
 * The page cache: decrypted and verified blocks kept in enclave memory, bounded by a byte budget
 * that counts against the enclave's memory, least recently used out first. A read that continues
 * the previous one is treated as sequential and fetches ahead, doubling the window up to
 * `maxReadAhead` blocks, so the layers below (and the host) see few large reads instead of many
 * small ones. Writes go through to the device below and update the cache.
 */
import { checkRange, readBlocks } from './io.ts';
import type { BlockDevice } from './types.ts';

export interface PageCacheOptions {
  /** Bytes of cached blocks at most. */
  budgetBytes: number;
  /** Largest read-ahead, in blocks. */
  maxReadAhead?: number;
}

export interface PageCacheStats {
  hits: number;
  misses: number;
  readAheadBlocks: number;
}

export class PageCache implements BlockDevice {
  readonly blockSize: number;
  readonly blockCount: number;
  readonly stats: PageCacheStats = { hits: 0, misses: 0, readAheadBlocks: 0 };
  /** Insertion order is recency order: a hit re-inserts. */
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly capacity: number;
  private readonly maxReadAhead: number;
  private nextSequential = -1;
  private window = 1;

  constructor(
    private readonly lower: BlockDevice,
    options: PageCacheOptions,
  ) {
    this.blockSize = lower.blockSize;
    this.blockCount = lower.blockCount;
    this.capacity = Math.max(1, Math.floor(options.budgetBytes / lower.blockSize));
    this.maxReadAhead = Math.max(1, Math.min(options.maxReadAhead ?? 32, this.capacity));
  }

  read(block: number, count: number): Uint8Array {
    checkRange(this, block, count);
    const bs = this.blockSize;
    const out = new Uint8Array(count * bs);
    this.window = block === this.nextSequential ? Math.min(this.window * 2, this.maxReadAhead) : 1;
    this.nextSequential = block + count;
    let i = 0;
    while (i < count) {
      const cached = this.lookup(block + i);
      if (cached) {
        out.set(cached, i * bs);
        i++;
        continue;
      }
      // Fetch the missing run, extended by the read-ahead window, in one read from below.
      let run = 1;
      while (i + run < count && !this.blocks.has(block + i + run)) run++;
      const extra = i + run === count ? Math.min(this.window - 1, this.blockCount - (block + count)) : 0;
      const data = readBlocks(this.lower, block + i, run + Math.max(0, extra));
      this.stats.misses += run;
      this.stats.readAheadBlocks += Math.max(0, extra);
      for (let j = 0; j < run + Math.max(0, extra); j++) {
        const page = data.slice(j * bs, (j + 1) * bs);
        this.insert(block + i + j, page);
        if (j < run) out.set(page, (i + j) * bs);
      }
      i += run;
    }
    return out;
  }

  write(block: number, data: Uint8Array): void {
    if (!this.lower.write) throw new Error('read-only device');
    this.lower.write(block, data);
    const bs = this.blockSize;
    for (let j = 0; j < data.length / bs; j++) this.insert(block + j, data.slice(j * bs, (j + 1) * bs));
  }

  flush(): void {
    this.lower.flush?.();
  }

  private lookup(block: number): Uint8Array | undefined {
    const page = this.blocks.get(block);
    if (page) {
      this.stats.hits++;
      this.blocks.delete(block);
      this.blocks.set(block, page);
    }
    return page;
  }

  private insert(block: number, page: Uint8Array): void {
    this.blocks.delete(block);
    this.blocks.set(block, page);
    while (this.blocks.size > this.capacity) {
      const oldest = this.blocks.keys().next().value as number;
      this.blocks.delete(oldest);
    }
  }
}
