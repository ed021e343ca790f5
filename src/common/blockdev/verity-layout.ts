import { FormatError } from './types.ts';

/** Size of the format-1 superblock (`struct verity_sb` in cryptsetup). */
export const VERITY_SB_SIZE = 512;
/** SHA-256, the only hash this implementation accepts. */
export const VERITY_DIGEST_SIZE = 32;
const MAX_LEVELS = 63;

/** The parameters that, together with the root hash, define a dm-verity device. */
export interface VerityParams {
  /** Bytes per data block (512..4096, power of two). */
  dataBlockSize: number;
  /** Bytes per hash block (512..4096, power of two). */
  hashBlockSize: number;
  /** Number of data blocks covered by the tree. */
  dataBlocks: number;
  /** Salt, at most 256 bytes; prepended to every hashed block (format 1). */
  salt: Uint8Array;
  /** Byte offset of the superblock (or, without one, of the tree) on the hash device. */
  hashOffset: number;
  /** Whether a superblock sits at `hashOffset`. */
  superblock: boolean;
}

/** Where each level of the hash tree lives, in hash blocks from the start of the hash device. */
export interface VerityLayout {
  /** log2 of the digests per hash block. */
  hashPerBlockBits: number;
  /** Number of tree levels; 0 when there is a single data block (the root hashes it directly). */
  levels: number;
  /** `levelStart[i]`: first hash block of level i (level 0 hashes the data). */
  levelStart: number[];
  /** `levelBlocks[i]`: number of hash blocks in level i. */
  levelBlocks: number[];
  /** One past the last hash block used. */
  hashEnd: number;
}

/** Throws unless `size` is a power of two in 512..4096. */
function checkVerityBlockSize(what: string, size: number): void {
  if (!Number.isInteger(size) || size < 512 || size > 4096 || (size & (size - 1)) !== 0) {
    throw new FormatError(`dm-verity: ${what} block size ${size} is not a power of two in 512..4096`);
  }
}

/** Validates parameters that may come from an untrusted superblock or a caller. */
export function checkVerityParams(p: VerityParams): void {
  checkVerityBlockSize('data', p.dataBlockSize);
  checkVerityBlockSize('hash', p.hashBlockSize);
  if (!Number.isSafeInteger(p.dataBlocks) || p.dataBlocks < 1) {
    throw new FormatError(`dm-verity: invalid data block count ${p.dataBlocks}`);
  }
  if (p.salt.length > 256) throw new FormatError(`dm-verity: salt of ${p.salt.length} bytes exceeds 256`);
  if (!Number.isSafeInteger(p.hashOffset) || p.hashOffset < 0 || p.hashOffset % 512 !== 0) {
    throw new FormatError(`dm-verity: hash offset ${p.hashOffset} is not a multiple of 512`);
  }
}

/** First hash block of the tree: right after the superblock, rounded up to a hash block (as veritysetup). */
function treeStartBlock(p: VerityParams): number {
  const start = p.hashOffset + (p.superblock ? VERITY_SB_SIZE : 0);
  return Math.ceil(start / p.hashBlockSize);
}

/**
 * Computes the tree layout exactly as cryptsetup's `hash_levels`: the top level is stored first,
 * level 0 (hashes of data blocks) last; each digest slot is padded to a power of two (format 1).
 */
export function verityLayout(p: VerityParams): VerityLayout {
  checkVerityParams(p);
  const hashPerBlockBits = Math.floor(Math.log2(p.hashBlockSize / VERITY_DIGEST_SIZE));
  const n = BigInt(p.dataBlocks);
  let levels = 0;
  while (hashPerBlockBits * levels < 64 && (n - 1n) >> BigInt(hashPerBlockBits * levels) > 0n) levels++;
  if (levels > MAX_LEVELS) throw new FormatError('dm-verity: too many tree levels');
  const levelStart: number[] = new Array<number>(levels).fill(0);
  const levelBlocks: number[] = new Array<number>(levels).fill(0);
  let position = treeStartBlock(p);
  for (let i = levels - 1; i >= 0; i--) {
    const shift = BigInt((i + 1) * hashPerBlockBits);
    const size = Number((n + (1n << shift) - 1n) >> shift);
    levelStart[i] = position;
    levelBlocks[i] = size;
    position += size;
  }
  return { hashPerBlockBits, levels, levelStart, levelBlocks, hashEnd: position };
}
