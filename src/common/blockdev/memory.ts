import { checkBlockSize, checkTransfer } from './io.ts';
import type { BlockDevice } from './types.ts';

/**
 * A block device over a byte array (tests, scratch images, an image being built in memory). A
 * trailing partial block is not addressable. Reads and writes copy, so callers never alias the
 * backing store.
 */
export class MemoryBlockDevice implements BlockDevice {
  readonly blockCount: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly blockSize = 512,
  ) {
    checkBlockSize(blockSize);
    this.blockCount = Math.floor(bytes.length / blockSize);
  }

  readInto(block: number, dst: Uint8Array): void {
    checkTransfer(this, block, dst);
    const at = block * this.blockSize;
    dst.set(this.bytes.subarray(at, at + dst.length));
  }

  write(block: number, data: Uint8Array): void {
    checkTransfer(this, block, data);
    this.bytes.set(data, block * this.blockSize);
  }

  flush(): void {}
}
