/**
 * The contents of one host file the enclave holds open, kept in aligned blocks as the host last
 * gave them or as the enclave itself last wrote them (`hostdir-cache.ts` decides when a file's
 * blocks may be trusted to be current; this module only keeps them consistent with the enclave's
 * own reads, writes and truncations).
 *
 * A block is kept whole (`FILE_BLOCK` bytes) or as the file's last, short block: its end is the end
 * of the file (an empty block at the end marks end of file). At most one block is short, and none
 * is kept after it. A read is answered only when every block it touches is kept.
 */

/** Bytes per block: SQLite's default page size, and the kernel's. */
export const FILE_BLOCK = 4096;

/** Blocks kept across all files of one cache; past that the oldest of the file being filled go. */
export class BlockBudget {
  used = 0;
  readonly files = new Set<FileBlocks>();

  constructor(readonly maxBlocks: number) {}

  /** Drops every block of every file. */
  clear(): void {
    for (const file of this.files) file.clear();
  }
}

export class FileBlocks {
  private readonly blocks = new Map<number, Uint8Array>();
  /** Index of the short block (the file's last), or -1 when none is kept. */
  private end = -1;

  constructor(private readonly budget: BlockBudget) {
    budget.files.add(this);
  }

  /** Number of blocks kept. */
  get size(): number {
    return this.blocks.size;
  }

  /**
   * `length` bytes at `offset` (fewer at end of file), or null when a block it touches is not kept.
   * A read within one block is a view of it (no copy made twice): the caller copies it out before
   * anything writes the file.
   */
  read(offset: number, length: number): Uint8Array | null {
    const first = Math.floor(offset / FILE_BLOCK);
    const start = offset - first * FILE_BLOCK;
    if (start + length <= FILE_BLOCK) {
      const block = this.blocks.get(first);
      if (block === undefined) return null;
      return block.subarray(Math.min(start, block.length), Math.min(start + length, block.length));
    }
    const out = new Uint8Array(length);
    let done = 0;
    for (let index = Math.floor(offset / FILE_BLOCK); done < length; index++) {
      const block = this.blocks.get(index);
      if (block === undefined) return null;
      const from = offset + done - index * FILE_BLOCK;
      const n = Math.min(block.length - from, length - done);
      if (n > 0) {
        out.set(block.subarray(from, from + n), done);
        done += n;
      }
      if (block.length < FILE_BLOCK) break;
    }
    return done === length ? out : out.subarray(0, done);
  }

  /**
   * Keeps what the host read from block `first` on, `data` of the `asked` bytes it was asked for
   * (a whole number of blocks). A short answer ends the file there: blocks kept after it go.
   */
  fill(first: number, data: Uint8Array, asked: number): void {
    if (data.length > asked) return;
    if (this.end >= 0 && this.end < first + Math.ceil(data.length / FILE_BLOCK)) this.drop(this.end);
    for (let at = 0; at < data.length; at += FILE_BLOCK) {
      this.put(first + at / FILE_BLOCK, data.slice(at, at + FILE_BLOCK));
    }
    if (data.length === asked) return;
    const last = first + Math.floor(data.length / FILE_BLOCK);
    if (data.length % FILE_BLOCK === 0) this.put(last, new Uint8Array(0));
    for (const index of [...this.blocks.keys()]) if (index > last) this.drop(index);
    this.end = last;
  }

  /** The enclave wrote `data` at `offset`: kept blocks take it; blocks it covers whole are kept. */
  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const first = Math.floor(offset / FILE_BLOCK);
    const last = Math.floor((offset + data.length - 1) / FILE_BLOCK);
    // Written past the kept end: the short block has grown by an unknown run of zeros.
    if (this.end >= 0 && this.end < first) this.drop(this.end);
    for (let index = first; index <= last; index++) {
      const start = index * FILE_BLOCK;
      const from = Math.max(offset, start) - start;
      const to = Math.min(offset + data.length, start + FILE_BLOCK) - start;
      const bytes = data.subarray(from + start - offset, to + start - offset);
      const block = this.blocks.get(index);
      if (block !== undefined && block.length >= to) {
        block.set(bytes, from);
      } else if (block !== undefined) {
        // The short last block grows; a gap before the written bytes reads as zeros, as in POSIX.
        const grown = new Uint8Array(to);
        grown.set(block);
        grown.set(bytes, from);
        this.blocks.set(index, grown);
        if (to === FILE_BLOCK) this.end = -1;
      } else if (from === 0 && to === FILE_BLOCK) {
        this.put(index, bytes.slice());
      }
    }
  }

  /** The enclave set the file's size: blocks from the new end on, and any short block, go. */
  truncate(size: number): void {
    const keep = Math.floor(size / FILE_BLOCK);
    if (this.end >= 0) this.drop(this.end);
    for (const index of [...this.blocks.keys()]) if (index >= keep) this.drop(index);
  }

  clear(): void {
    for (const index of [...this.blocks.keys()]) this.drop(index);
  }

  /** The file is no longer open: its blocks go, and it leaves the budget. */
  release(): void {
    this.clear();
    this.budget.files.delete(this);
  }

  private put(index: number, block: Uint8Array): void {
    if (this.blocks.has(index)) this.drop(index);
    if (this.budget.used >= this.budget.maxBlocks) {
      const oldest = this.blocks.keys().next();
      if (oldest.done === true) this.budget.clear();
      else this.drop(oldest.value);
    }
    this.blocks.set(index, block);
    this.budget.used++;
    if (block.length < FILE_BLOCK) this.end = index;
  }

  private drop(index: number): void {
    if (!this.blocks.delete(index)) return;
    this.budget.used--;
    if (index === this.end) this.end = -1;
  }
}
