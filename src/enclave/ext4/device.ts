import type { BlockDevice as LayerDevice } from '../blockdev/types.ts';
import { Errno, WasiError } from '../../interface/errno.ts';

/**
 * A synchronous block device as the ext4 layer sees it: the enclave's block stack (cache, dm-verity,
 * LUKS2, authenticated volumes) provides one of these. Offsets and lengths are in bytes; the ext4
 * layer only asks for whole, aligned multiples of `blockSize` inside `sizeBytes`.
 *
 * A failing read or write throws (a `WasiError` with `EIO` for detected tampering); the ext4 layer
 * turns that into an `EIO` from the file-system call that needed the block.
 */
export interface BlockDevice {
  /** Size of one device block in bytes (a power of two, 512 to 65536). */
  readonly blockSize: number;
  /** Size of the device in bytes (a multiple of `blockSize`). */
  readonly sizeBytes: number;
  /** Returns exactly `length` bytes starting at `offsetBytes`. */
  read(offsetBytes: number, length: number): Uint8Array;
  /** Writes `data` at `offsetBytes`. */
  write(offsetBytes: number, data: Uint8Array): void;
  /** Makes every earlier write durable (for writable volumes, the atomic commit point). */
  flush(): void;
}

/** A block device over an in-memory buffer, for tests and scratch volumes. */
export class MemoryBlockDevice implements BlockDevice {
  readonly sizeBytes: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly blockSize = 4096,
  ) {
    this.sizeBytes = bytes.length - (bytes.length % blockSize);
  }

  read(offsetBytes: number, length: number): Uint8Array {
    return this.bytes.slice(offsetBytes, offsetBytes + length);
  }

  write(offsetBytes: number, data: Uint8Array): void {
    this.bytes.set(data, offsetBytes);
  }

  flush(): void {}
}

/**
 * Adapts a device of the enclave's block layer (`src/enclave/blockdev`: dm-verity, LUKS2, ...) to
 * the byte-addressed interface here. The ext4 cache asks only for whole aligned blocks, so this is a
 * change of units; a device without `write` is read-only (`EROFS`).
 */
export function fromBlockLayer(dev: LayerDevice): BlockDevice {
  const bs = dev.blockSize;
  const blockOf = (offset: number, length: number): number => {
    if (offset % bs !== 0 || length % bs !== 0) {
      throw new WasiError(
        Errno.INVAL,
        `ext4: unaligned device access ${offset}+${length} (block size ${bs})`,
      );
    }
    return offset / bs;
  };
  return {
    blockSize: bs,
    sizeBytes: dev.blockCount * bs,
    read: (offset, length) => dev.read(blockOf(offset, length), length / bs),
    write: (offset, data) => {
      if (!dev.write) throw new WasiError(Errno.ROFS, 'ext4: the device is read-only');
      dev.write(blockOf(offset, data.length), data);
    },
    flush: () => dev.flush?.(),
  };
}
