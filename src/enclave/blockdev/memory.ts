import { checkRange } from './io.ts';
import { BlockDeviceError, type BlockDevice } from './types.ts';

/**
 * A block device over a byte array (tests, in-enclave scratch images). A trailing partial block
 * is not addressable. Reads return copies, so callers cannot alias the backing store.
 */
export class MemoryBlockDevice implements BlockDevice {
  readonly blockCount: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly blockSize = 512,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) {
      throw new BlockDeviceError(`block size ${blockSize} is not a power of two >= 512`);
    }
    this.blockCount = Math.floor(bytes.length / blockSize);
  }

  read(block: number, count: number): Uint8Array {
    checkRange(this, block, count);
    return this.bytes.slice(block * this.blockSize, (block + count) * this.blockSize);
  }

  write(block: number, data: Uint8Array): void {
    if (data.length % this.blockSize !== 0) {
      throw new BlockDeviceError(`write of ${data.length} bytes is not a whole number of blocks`);
    }
    checkRange(this, block, data.length / this.blockSize);
    this.bytes.set(data, block * this.blockSize);
  }

  flush(): void {}
}
