import { readBlocks, readBytes } from '../common/blockdev/io.ts';
import { BlockDeviceError, FormatError, IntegrityError, type BlockDevice } from '../common/blockdev/types.ts';
import { openVerity } from '../common/blockdev/verity.ts';
import { VERITY_SB_SIZE } from '../common/blockdev/verity-layout.ts';
import { parseVeritySuperblock } from '../common/blockdev/verity-superblock.ts';
import { readDescriptor } from './descriptor.ts';
import { ImageError } from './errors.ts';
import { FileBlockDevice } from './file-device.ts';
import type { ProgressCallback } from './progress.ts';

/** Options for {@link verifyImage}. */
export interface VerifyOptions {
  /** The trusted root hash; default: the descriptor's (which only proves the image is self-consistent). */
  rootHash?: string;
  /** Superblock offset; default: the descriptor's, else found by scanning. */
  hashOffset?: number;
  onProgress?: ProgressCallback;
}

/** The verdict. */
export interface VerifyResult {
  ok: boolean;
  /** One line, for the terminal. */
  message: string;
  rootHash: string;
  rootHashFrom: 'argument' | 'descriptor';
  dataBlocks: number;
}

/**
 * Finds an appended dm-verity superblock: the last 4 KiB-aligned offset holding one whose data area
 * ends exactly there (the layout `veritysetup format --hash-offset` and `cloister image build` use).
 */
export function findAppendedVerity(dev: BlockDevice): number | null {
  const size = dev.blockCount * dev.blockSize;
  for (let offset = Math.floor(size / 4096) * 4096 - 4096; offset >= 4096; offset -= 4096) {
    const sb = readBytes(dev, offset, VERITY_SB_SIZE);
    if (String.fromCharCode(...sb.subarray(0, 6)) !== 'verity') continue;
    try {
      const { params } = parseVeritySuperblock(sb, offset);
      if (params.dataBlocks * params.dataBlockSize === offset) return offset;
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
    }
  }
  return null;
}

/**
 * Checks a whole image like `veritysetup verify`: the tree's top against the root hash, then every
 * data block (and so every hash block of the tree) against the tree.
 */
export function verifyImage(image: string, opts: VerifyOptions = {}): VerifyResult {
  const descriptor = readDescriptor(image);
  const rootHash = opts.rootHash ?? descriptor?.rootHash;
  if (rootHash === undefined) {
    throw new ImageError(`${image}: no root hash: pass --root-hash or keep ${image}.json next to the image`);
  }
  const dev = new FileBlockDevice(image, 4096);
  try {
    const hashOffset = opts.hashOffset ?? descriptor?.verity.hashOffset ?? findAppendedVerity(dev);
    if (hashOffset === null)
      throw new ImageError(`${image}: no dm-verity superblock found (pass --hash-offset)`);
    const result = (ok: boolean, message: string, dataBlocks: number): VerifyResult => ({
      ok,
      message,
      rootHash,
      rootHashFrom: opts.rootHash === undefined ? 'descriptor' : 'argument',
      dataBlocks,
    });
    let checked = 0;
    try {
      const expect = descriptor ? { dataBlocks: descriptor.verity.dataBlocks } : undefined;
      const verity = openVerity({ data: dev, rootHash, hashOffset, expect });
      const total = verity.blockCount;
      const step = 256;
      for (let block = 0; block < total; block += step) {
        readBlocks(verity, block, Math.min(step, total - block));
        checked = Math.min(block + step, total);
        opts.onProgress?.('verifying', checked * verity.blockSize, total * verity.blockSize);
      }
      return result(true, `${image}: OK, ${total} data blocks match root hash ${rootHash}`, total);
    } catch (error) {
      if (
        error instanceof IntegrityError ||
        error instanceof FormatError ||
        error instanceof BlockDeviceError
      ) {
        return result(false, `${image}: FAILED: ${error.message}`, checked);
      }
      throw error;
    }
  } finally {
    dev.close();
  }
}
