import { BlockDeviceError, type BlockDevice } from './types.ts';

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
 * Reads whole blocks and checks the reply's length: a lower device may be backed by the host,
 * which can answer with fewer or more bytes than asked for.
 */
export function readBlocks(dev: BlockDevice, block: number, count: number): Uint8Array {
  checkRange(dev, block, count);
  const data = dev.read(block, count);
  if (!(data instanceof Uint8Array) || data.length !== count * dev.blockSize) {
    throw new BlockDeviceError(
      `short or oversized read: asked for ${count * dev.blockSize} bytes at block ${block}, got ${data?.length}`,
    );
  }
  return data;
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
