import { readBlocks, readIntoMany, writeMany } from '../blockdev/io.ts';
import { BlockDeviceError, FormatError, type BlockDevice } from '../blockdev/types.ts';

/** The volume's unit of everything: logical blocks, metadata nodes and superblocks are 4 KiB. */
export const UNIT = 4096;
/** Leaf metadata entries (one per logical block): version u64, slot u8, salt (5), 2 spare, GCM tag. */
export const LEAF_ENTRY_SIZE = 32;
export const LEAF_FANOUT = UNIT / LEAF_ENTRY_SIZE;
/** Inner metadata entries (one per child node): SHA-256 of the child, its slot u8, spare bytes. */
export const NODE_ENTRY_SIZE = 64;
export const NODE_FANOUT = UNIT / NODE_ENTRY_SIZE;
/** The largest volume (16 TiB): far beyond what the host's image files are meant for. */
export const MAX_LOGICAL_BLOCKS = 2 ** 32;

/**
 * Where everything lives, in 4 KiB units of the raw device: superblocks A and B at 0 and 1, then two
 * slots per metadata node (leaves first, root last), then two slots per logical block. Slots are
 * adjacent so a block's two copies share locality.
 */
export class Geometry {
  /** Nodes per level, level 0 = leaves; the last level has exactly one node, the root. */
  readonly levelCounts: number[] = [];
  /** Index of each level's first node in the global node numbering. */
  readonly levelStarts: number[] = [];
  readonly nodeCount: number;
  readonly dataStart: number;
  readonly totalUnits: number;

  constructor(readonly logicalBlocks: number) {
    if (!Number.isSafeInteger(logicalBlocks) || logicalBlocks < 1 || logicalBlocks > MAX_LOGICAL_BLOCKS)
      throw new FormatError(`volume: invalid logical block count ${logicalBlocks}`);
    let count = Math.ceil(logicalBlocks / LEAF_FANOUT);
    let start = 0;
    for (;;) {
      this.levelCounts.push(count);
      this.levelStarts.push(start);
      start += count;
      if (count === 1) break;
      count = Math.ceil(count / NODE_FANOUT);
    }
    this.nodeCount = start;
    this.dataStart = 2 + 2 * this.nodeCount;
    this.totalUnits = this.dataStart + 2 * logicalBlocks;
  }

  get levels(): number {
    return this.levelCounts.length;
  }

  /** The global number of node `index` of `level`. */
  node(level: number, index: number): number {
    return this.levelStarts[level] + index;
  }

  nodeUnit(node: number, slot: number): number {
    return 2 + 2 * node + slot;
  }

  dataUnit(block: number, slot: number): number {
    return this.dataStart + 2 * block + slot;
  }

  /** The largest volume whose layout fits in `units` 4 KiB units (0 if none does). */
  static maxBlocksFor(units: number): number {
    let lo = 0;
    let hi = Math.min(MAX_LOGICAL_BLOCKS, Math.floor(units / 2));
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (new Geometry(mid).totalUnits <= units) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** Reads and writes whole 4 KiB units of a raw device whose block size divides 4096. */
export class UnitIo {
  private readonly per: number;
  readonly units: number;

  constructor(readonly dev: BlockDevice) {
    if (dev.blockSize > UNIT || UNIT % dev.blockSize !== 0)
      throw new FormatError(`volume: device block size ${dev.blockSize} does not divide ${UNIT}`);
    this.per = UNIT / dev.blockSize;
    this.units = Math.floor(dev.blockCount / this.per);
  }

  get writable(): boolean {
    return typeof this.dev.write === 'function';
  }

  /** Reads `count` units; the reply's length is checked (the device may be the host's). */
  read(unit: number, count = 1): Uint8Array {
    return readBlocks(this.dev, unit * this.per, count * this.per);
  }

  write(unit: number, data: Uint8Array): void {
    if (!this.dev.write) throw new BlockDeviceError('volume: the device below is read-only');
    this.dev.write(unit * this.per, data);
  }

  /** Fills each `data` with its unit, all sent together (one round trip over the host's device). */
  readMany(units: readonly { unit: number; data: Uint8Array }[]): void {
    readIntoMany(
      this.dev,
      units.map(({ unit, data }) => ({ block: unit * this.per, data })),
    );
  }

  /** Writes each `data` at its unit, all sent together. */
  writeMany(units: readonly { unit: number; data: Uint8Array }[]): void {
    if (!this.dev.write) throw new BlockDeviceError('volume: the device below is read-only');
    writeMany(
      this.dev,
      units.map(({ unit, data }) => ({ block: unit * this.per, data })),
    );
  }

  flush(): void {
    this.dev.flush?.();
  }
}
