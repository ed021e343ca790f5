import { Buffer } from 'node:buffer';
import { hash, timingSafeEqual } from 'node:crypto';
import { checkTransfer, deviceBytes, readBlocks, readBytes, readBytesInto, readIntoMany } from './io.ts';
import {
  VERITY_DIGEST_SIZE,
  VERITY_SB_SIZE,
  verityLayout,
  type VerityLayout,
  type VerityParams,
} from './verity-layout.ts';
import { parseVeritySuperblock } from './verity-superblock.ts';
import { FormatError, IntegrityError, type BlockDevice, type BlockTransfer } from './types.ts';

/** Options for {@link openVerity}. */
export interface VerityOpenOptions {
  /** The device holding the data blocks (data starts at byte 0). */
  data: BlockDevice;
  /** The device holding the superblock and hash tree; defaults to `data` (tree appended, `--hash-offset`). */
  hash?: BlockDevice;
  /** The trusted root hash (32 bytes or 64 hex digits), e.g. from the measured configuration. */
  rootHash: Uint8Array | string;
  /** Byte offset of the superblock (or tree, without one) on the hash device; default 0. */
  hashOffset?: number;
  /**
   * No-superblock mode (`veritysetup --no-superblock`): the parameters the caller trusts. Without
   * this the superblock at `hashOffset` is parsed.
   */
  params?: Omit<VerityParams, 'hashOffset' | 'superblock'>;
  /**
   * Values the superblock must carry. The root hash does not bind the data block count (a host can
   * shrink it within the same top hash block), so callers should pin at least `dataBlocks`.
   */
  expect?: Partial<Omit<VerityParams, 'hashOffset' | 'superblock'>>;
  /** Verified hash blocks kept in memory (LRU), default 1024 (4 MiB with 4 KiB hash blocks). */
  cacheBlocks?: number;
  /**
   * Most hash blocks of the upper levels (all but level 0) read and verified at open and kept for
   * good; default 256 (1 MiB with 4 KiB blocks: every upper level of an image up to about 16 GiB).
   */
  pinnedBlocks?: number;
}

/** Parses a root hash given as hex or bytes. */
export function parseRootHash(rootHash: Uint8Array | string): Uint8Array {
  if (typeof rootHash === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(rootHash))
      throw new FormatError('dm-verity: root hash must be 64 hex digits');
    return Uint8Array.from(Buffer.from(rootHash, 'hex'));
  }
  if (rootHash.length !== VERITY_DIGEST_SIZE) throw new FormatError('dm-verity: root hash must be 32 bytes');
  return rootHash;
}

/** Hash blocks read for one request, by position, not yet verified. */
type Fetched = Map<number, Uint8Array>;

/**
 * A read-only device whose every block is checked against the hash tree before it is returned.
 * The upper levels of the tree are read and verified once, at open, and kept; verified level-0
 * blocks are cached (bounded LRU); data blocks are not (a cache above does that). A read fetches its
 * data blocks and every hash block they need that is not cached in one request to the device below.
 */
export class VerityDevice implements BlockDevice {
  readonly blockSize: number;
  readonly blockCount: number;
  readonly layout: VerityLayout;
  private readonly cache = new Map<number, Uint8Array>();
  private readonly pinned = new Map<number, Uint8Array>();
  /**
   * Format 1 hashes salt || block: the salt sits at the start of this buffer and each block is copied
   * behind it for one one-shot SHA-256 (cheaper than a hash object per block, by about a third).
   */
  private readonly saltedBlock: Uint8Array;

  constructor(
    private readonly data: BlockDevice,
    private readonly hash: BlockDevice,
    readonly params: VerityParams,
    private readonly rootHash: Uint8Array,
    private readonly cacheBlocks: number,
  ) {
    this.layout = verityLayout(params);
    this.saltedBlock = new Uint8Array(
      params.salt.length + Math.max(params.dataBlockSize, params.hashBlockSize),
    );
    this.saltedBlock.set(params.salt);
    this.blockSize = params.dataBlockSize;
    this.blockCount = params.dataBlocks;
    if (params.dataBlocks * params.dataBlockSize > deviceBytes(data)) {
      throw new FormatError(
        'dm-verity: data device is smaller than the data blocks the tree covers (truncated?)',
      );
    }
    if (this.layout.hashEnd * params.hashBlockSize > deviceBytes(hash)) {
      throw new FormatError('dm-verity: hash device is too small for the hash tree (truncated?)');
    }
    if (data === hash && params.dataBlocks * params.dataBlockSize > params.hashOffset) {
      throw new FormatError('dm-verity: data area overlaps the hash area');
    }
  }

  /**
   * Reads the data blocks straight into `dst`, together with the hash blocks they need that are not
   * cached, then checks the new hash blocks from the top down and each data block there.
   */
  readInto(block: number, dst: Uint8Array): void {
    const count = checkTransfer(this, block, dst);
    const { fetched, vectored } = this.plan(block, dst, this.missingNodes(block, count));
    if (vectored) readIntoMany(this.hash, vectored);
    else this.fetchApart(block, dst, fetched);
    this.verifyRun(block, dst, fetched);
  }

  /**
   * As `readInto`, but the read below is only started: the function returned waits for it and then
   * checks everything as `readInto` does.
   */
  startReadInto(block: number, dst: Uint8Array): () => void {
    const count = checkTransfer(this, block, dst);
    const { fetched, vectored } = this.plan(block, dst, this.missingNodes(block, count));
    // Nothing to start below (data and tree apart, say): the whole read happens at finish, so that
    // its failure is the finish's, as for any read started ahead.
    if (!vectored || !this.hash.startReadIntoMany) return () => this.readInto(block, dst);
    const finish = this.hash.startReadIntoMany(vectored);
    return () => {
      finish();
      this.verifyRun(block, dst, fetched);
    };
  }

  /**
   * Checks each data block of a run read into `dst` against its digest; the level-0 hash block of
   * consecutive blocks is looked up once for all of them.
   */
  private verifyRun(block: number, dst: Uint8Array, fetched: Fetched): void {
    const bs = this.blockSize;
    const perNode = 2 ** this.layout.hashPerBlockBits;
    let nodeIndex = -1;
    let node = this.rootHash;
    for (let i = 0; i < dst.length / bs; i++) {
      const data = block + i;
      let expected = this.rootHash;
      if (this.layout.levels > 0) {
        const index = Math.floor(data / perNode);
        if (index !== nodeIndex) {
          node = this.hashBlock(0, index, data, fetched);
          nodeIndex = index;
        }
        const slot = (data - index * perNode) * VERITY_DIGEST_SIZE;
        expected = node.subarray(slot, slot + VERITY_DIGEST_SIZE);
      }
      if (!timingSafeEqual(this.digest(dst.subarray(i * bs, (i + 1) * bs)), expected)) {
        throw new IntegrityError(`dm-verity: data block ${data} does not match its hash`, data);
      }
    }
  }

  /**
   * Checks the top of the tree against the root hash, and reads and verifies the upper levels (all
   * but level 0, at most `limit` blocks, top first) in one request to keep them; called at open.
   */
  open(limit: number): void {
    const { levels, levelStart, levelBlocks } = this.layout;
    if (levels === 0) {
      readBlocks(this, 0, 1);
      return;
    }
    let keep = 0;
    let lowest = levels;
    while (lowest > 1 && keep + levelBlocks[lowest - 1] <= limit) keep += levelBlocks[--lowest];
    if (keep === 0) {
      this.hashBlock(levels - 1, 0, undefined);
      return;
    }
    const hbs = this.params.hashBlockSize;
    // The top level is stored first: the kept levels are one run of blocks.
    const first = levelStart[levels - 1];
    const run = readBytes(this.hash, first * hbs, keep * hbs);
    const fetched: Fetched = new Map();
    for (let k = 0; k < keep; k++) fetched.set(first + k, run.subarray(k * hbs, (k + 1) * hbs));
    for (let level = levels - 1; level >= lowest; level--) {
      for (let index = 0; index < levelBlocks[level]; index++) {
        this.pinned.set(levelStart[level] + index, this.hashBlock(level, index, undefined, fetched));
      }
    }
    for (const position of this.pinned.keys()) this.cache.delete(position);
  }

  /**
   * Positions of the hash blocks that checking data blocks `block .. block+count` needs and that
   * are not held: those of level 0 over the range, then the parents of the missing ones, up to the
   * first level where none is missing.
   */
  private missingNodes(block: number, count: number): number[] {
    const { levels, levelStart, hashPerBlockBits: bits } = this.layout;
    const missing: number[] = [];
    let first = block;
    let last = block + count - 1;
    for (let level = 0; level < levels; level++) {
      first = Math.floor(first / 2 ** bits);
      last = Math.floor(last / 2 ** bits);
      let low = -1;
      let high = -1;
      for (let index = first; index <= last; index++) {
        const position = levelStart[level] + index;
        if (this.cache.has(position) || this.pinned.has(position)) continue;
        missing.push(position);
        if (low < 0) low = index;
        high = index;
      }
      if (low < 0) break;
      first = low;
      last = high;
    }
    return missing;
  }

  /**
   * The buffers for the hash blocks at `positions`, and, when data and tree are one device that
   * takes vectored reads at these offsets, the one vectored read of the data blocks and those
   * hash blocks together.
   */
  private plan(
    block: number,
    dst: Uint8Array,
    positions: number[],
  ): { fetched: Fetched; vectored?: BlockTransfer[] } {
    const hbs = this.params.hashBlockSize;
    const fetched: Fetched = new Map();
    for (const position of positions) fetched.set(position, new Uint8Array(hbs));
    const offset = block * this.blockSize;
    const dbs = this.hash.blockSize;
    // Vectored reads take whole blocks of the device below; 4 KiB tree blocks over 512-byte host
    // blocks always are.
    const aligned = (at: number, length: number) => at % dbs === 0 && length % dbs === 0;
    if (this.data !== this.hash || !aligned(offset, dst.length) || !aligned(0, hbs)) return { fetched };
    const vectored: BlockTransfer[] = [{ block: offset / dbs, data: dst }];
    for (const [position, data] of fetched) {
      if (!aligned(position * hbs, hbs)) return { fetched };
      vectored.push({ block: (position * hbs) / dbs, data });
    }
    return { fetched, vectored };
  }

  /**
   * Reads the data and the `fetched` hash blocks apart (two devices, or offsets not aligned): the
   * hash blocks in one vectored read when they are whole blocks of the hash device.
   */
  private fetchApart(block: number, dst: Uint8Array, fetched: Fetched): void {
    readBytesInto(this.data, block * this.blockSize, dst);
    const hbs = this.params.hashBlockSize;
    const dbs = this.hash.blockSize;
    if (hbs % dbs === 0) {
      const transfers = [...fetched].map(([position, data]) => ({ block: (position * hbs) / dbs, data }));
      if (transfers.length > 0) readIntoMany(this.hash, transfers);
    } else for (const [position, data] of fetched) readBytesInto(this.hash, position * hbs, data);
  }

  /** SHA-256 of salt || `bytes`. */
  private digest(bytes: Uint8Array): Buffer {
    const salt = this.params.salt.length;
    this.saltedBlock.set(bytes, salt);
    return hash('sha256', this.saltedBlock.subarray(0, salt + bytes.length), 'buffer');
  }

  /** The digest of item `index` of level `level - 1` (or of data block `index` for level 0). */
  private entry(level: number, index: number, dataBlock: number | undefined, fetched?: Fetched): Uint8Array {
    const bits = this.layout.hashPerBlockBits;
    const node = this.hashBlock(level, Math.floor(index / 2 ** bits), dataBlock, fetched);
    const slot = (index % 2 ** bits) * VERITY_DIGEST_SIZE;
    return node.subarray(slot, slot + VERITY_DIGEST_SIZE);
  }

  /**
   * Hash block `index` of `level`, verified against its parent (or the root hash at the top): kept,
   * cached, or else taken from `fetched` (or read) and verified once before it is cached.
   */
  private hashBlock(
    level: number,
    index: number,
    dataBlock: number | undefined,
    fetched?: Fetched,
  ): Uint8Array {
    const position = this.layout.levelStart[level] + index;
    const kept = this.pinned.get(position);
    if (kept) return kept;
    const cached = this.cache.get(position);
    if (cached) {
      this.cache.delete(position);
      this.cache.set(position, cached);
      return cached;
    }
    const hbs = this.params.hashBlockSize;
    const node = fetched?.get(position) ?? readBytes(this.hash, position * hbs, hbs);
    const top = level === this.layout.levels - 1;
    const expected = top ? this.rootHash : this.entry(level + 1, index, dataBlock, fetched);
    if (!timingSafeEqual(this.digest(node), expected)) {
      const what = top
        ? 'dm-verity: root hash does not match the hash tree'
        : `dm-verity: hash block ${position} (level ${level}) does not match its hash`;
      const reading = dataBlock === undefined ? '' : ` (reading data block ${dataBlock})`;
      throw new IntegrityError(what + reading, dataBlock);
    }
    this.cache.set(position, node);
    if (this.cache.size > this.cacheBlocks) this.cache.delete(this.cache.keys().next().value as number);
    return node;
  }
}

/**
 * Opens a dm-verity (format 1, SHA-256) device and checks the tree's top against the trusted root
 * hash. The superblock, when used, is untrusted input: it is validated, and `expect` pins values.
 */
export function openVerity(opts: VerityOpenOptions): VerityDevice {
  const hash = opts.hash ?? opts.data;
  const hashOffset = opts.hashOffset ?? 0;
  let params: VerityParams;
  if (opts.params) {
    params = { ...opts.params, hashOffset, superblock: false };
  } else {
    if (hashOffset + VERITY_SB_SIZE > deviceBytes(hash)) {
      throw new FormatError('dm-verity: the hash device ends before the superblock (truncated?)');
    }
    params = parseVeritySuperblock(readBytes(hash, hashOffset, VERITY_SB_SIZE), hashOffset).params;
    for (const [key, want] of Object.entries(opts.expect ?? {})) {
      const got = params[key as keyof VerityParams];
      const same =
        want instanceof Uint8Array && got instanceof Uint8Array
          ? Buffer.from(want).equals(got)
          : want === got;
      if (!same) throw new FormatError(`dm-verity: superblock ${key} does not match the expected value`);
    }
  }
  const cacheBlocks = Math.max(opts.cacheBlocks ?? 1024, 1);
  const dev = new VerityDevice(opts.data, hash, params, parseRootHash(opts.rootHash), cacheBlocks);
  dev.open(Math.max(opts.pinnedBlocks ?? 256, 0));
  return dev;
}
