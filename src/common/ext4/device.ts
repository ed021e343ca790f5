import { checkBlockSize, deviceBytes } from '../blockdev/io.ts';
import type { BlockDevice } from '../blockdev/types.ts';
import { Errno, WasiError } from '../../interface/errno.ts';

/**
 * Byte ranges over a block device, as libext2fs's io_manager asks for them. Whole aligned blocks (all
 * of a file's data) go straight between the device and libext2fs's memory; the rare piece smaller
 * than a block (the superblock at byte 1024) goes through the covering blocks, read, modified and
 * written back whole. A `BlockCache` below gives read-ahead and write-back.
 */
export class ByteRangeIo {
  readonly blockSize: number;
  readonly sizeBytes: number;

  constructor(readonly device: BlockDevice) {
    try {
      checkBlockSize(device.blockSize);
    } catch (error) {
      throw new WasiError(Errno.INVAL, `ext4: ${(error as Error).message}`);
    }
    this.blockSize = device.blockSize;
    this.sizeBytes = deviceBytes(device);
  }

  /** Fills `dst` with the device bytes at `offset`. */
  read(offset: number, dst: Uint8Array): void {
    this.checkRange(offset, dst.length);
    const bs = this.blockSize;
    if (offset % bs === 0 && dst.length % bs === 0) {
      this.device.readInto(offset / bs, dst);
      return;
    }
    const { first, bytes } = this.covering(offset, dst.length);
    const at = offset - first * bs;
    dst.set(bytes.subarray(at, at + dst.length));
  }

  /** Writes `src` at `offset`. */
  write(offset: number, src: Uint8Array): void {
    if (!this.device.write) throw new WasiError(Errno.ROFS, 'ext4: the device is read-only');
    this.checkRange(offset, src.length);
    const bs = this.blockSize;
    if (offset % bs === 0 && src.length % bs === 0) {
      this.device.write(offset / bs, src);
      return;
    }
    const { first, bytes } = this.covering(offset, src.length);
    bytes.set(src, offset - first * bs);
    this.device.write(first, bytes);
  }

  flush(): void {
    this.device.flush?.();
  }

  /** The whole blocks around `offset .. offset+length`. */
  private covering(offset: number, length: number): { first: number; bytes: Uint8Array } {
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const end = Math.ceil((offset + length) / bs);
    const bytes = new Uint8Array((end - first) * bs);
    this.device.readInto(first, bytes);
    return { first, bytes };
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.sizeBytes) {
      throw new WasiError(
        Errno.IO,
        `ext4: access to bytes ${offset}..${offset + length} beyond the device (${this.sizeBytes} bytes)`,
      );
    }
  }
}
