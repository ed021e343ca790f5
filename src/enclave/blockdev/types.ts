/**
 * The block-device contract shared by every storage layer inside the enclave (raw host device,
 * dm-crypt, dm-verity, cache). Synchronous on purpose: the layers above (ext4, the VFS) are
 * synchronous, and the host transport hides its asynchrony behind the ring.
 *
 * Block numbers and counts are JavaScript numbers, checked to be safe integers: 2^53 blocks of
 * 512 bytes is far beyond any image this system handles.
 */
export interface BlockDevice {
  /** Bytes per block: a power of two, at least 512. */
  readonly blockSize: number;
  /** Number of addressable blocks. */
  readonly blockCount: number;
  /**
   * Reads `count` blocks starting at `block`. Returns exactly `count * blockSize` bytes or throws;
   * callers below a trust boundary must still check the length (see `readBlocks`). The buffer is
   * the caller's own: never a view of memory the host (or anyone else) can still change, since
   * layers above verify it and then use it (no check-then-use race).
   */
  read(block: number, count: number): Uint8Array;
  /** Writes whole blocks starting at `block`; absent on read-only devices. */
  write?(block: number, data: Uint8Array): void;
  /** Makes earlier writes durable. */
  flush?(): void;
}

/** A device (or a reply from one) broke the block-device contract: out of range, short read… */
export class BlockDeviceError extends Error {
  override readonly name = 'BlockDeviceError';
}

/** Data read from below failed an integrity check; the enclave must treat it as EIO. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  /** The block (in the checking layer's own numbering) that failed, when one is to blame. */
  readonly block: number | undefined;
  constructor(message: string, block?: number) {
    super(message);
    this.block = block;
  }
}

/** An on-disk structure (superblock, header, JSON metadata) is malformed or unsupported. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}
