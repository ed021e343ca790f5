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
