import { BlockDeviceError, type BlockDevice, type BlockTransfer } from './types.ts';

/** Throws unless `block .. block+count` is a valid range of `dev`. */
export function checkRange(dev: BlockDevice, block: number, count: number): void {
  if (!Number.isSafeInteger(block) || !Number.isSafeInteger(count) || block < 0 || count < 0) {
    throw new BlockDeviceError(`invalid block range ${block}+${count}`);
  }
  if (block + count > dev.blockCount) {
    throw new BlockDeviceError(
      `block range ${block}+${count} is beyond the end of the device (${dev.blockCount})`,
    );
  }
}

/**
 * The one range check of a `readInto`/`write`: `buffer` must be a whole number of `dev`'s blocks, all
 * inside the device. Returns the number of blocks.
 */
export function checkTransfer(dev: BlockDevice, block: number, buffer: Uint8Array): number {
  if (buffer.length % dev.blockSize !== 0) {
    throw new BlockDeviceError(`transfer of ${buffer.length} bytes is not a whole number of blocks`);
  }
  const count = buffer.length / dev.blockSize;
  checkRange(dev, block, count);
  return count;
}

/** Several reads of `dev` together when it can take them so (one round trip), else one by one. */
export function readIntoMany(dev: BlockDevice, reads: readonly BlockTransfer[]): void {
  if (dev.readIntoMany) dev.readIntoMany(reads);
  else for (const r of reads) dev.readInto(r.block, r.data);
}

/** Several writes to `dev` together when it can take them so, else one by one. */
export function writeMany(dev: BlockDevice, writes: readonly BlockTransfer[]): void {
  if (!dev.write) throw new BlockDeviceError('the device is read-only');
  if (dev.writeMany) dev.writeMany(writes);
  else for (const w of writes) dev.write(w.block, w.data);
}

/** Reads `count` whole blocks into a new buffer. */
export function readBlocks(dev: BlockDevice, block: number, count: number): Uint8Array {
  checkRange(dev, block, count);
  const out = new Uint8Array(count * dev.blockSize);
  dev.readInto(block, out);
  return out;
}

/**
 * Fills `dst` with the bytes of `dev` from byte `offset`, whatever its block size: straight into
 * `dst` when the range is block-aligned (the common case of one layer reading from the next), else
 * through the covering blocks.
 */
export function readBytesInto(dev: BlockDevice, offset: number, dst: Uint8Array): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new BlockDeviceError(`invalid byte offset ${offset}`);
  const bs = dev.blockSize;
  if (offset % bs === 0 && dst.length % bs === 0) {
    dev.readInto(offset / bs, dst);
    return;
  }
  dst.set(readBytes(dev, offset, dst.length));
}

/** Reads `length` bytes at byte `offset` of `dev`, whatever its block size. */
export function readBytes(dev: BlockDevice, offset: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockDeviceError(`invalid byte range ${offset}+${length}`);
  }
  if (length === 0) return new Uint8Array(0);
  const bs = dev.blockSize;
  const first = Math.floor(offset / bs);
  const last = Math.floor((offset + length - 1) / bs);
  const data = readBlocks(dev, first, last - first + 1);
  const start = offset - first * bs;
  return data.subarray(start, start + length);
}

/** The device's size in bytes. */
export function deviceBytes(dev: BlockDevice): number {
  return dev.blockCount * dev.blockSize;
}

/** Throws unless `blockSize` is a power of two from 512 to 64 KiB. */
export function checkBlockSize(blockSize: number): void {
  if (
    !Number.isInteger(blockSize) ||
    blockSize < 512 ||
    blockSize > 65536 ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw new BlockDeviceError(`block size ${blockSize} is not a power of two in 512..65536`);
  }
}
