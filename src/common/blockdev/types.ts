/**
 * The block-device contract of every storage layer, on both sides of the trust boundary: the host's
 * image file, dm-verity, dm-crypt (LUKS2), authenticated volumes, the block cache, memory and file
 * devices. Synchronous on purpose: the layers above (ext4, the VFS) are synchronous, and the host
 * transport hides its asynchrony behind the ring.
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
   * Fills `dst` (a whole number of blocks) with the blocks from `block` on, or throws. `dst` is the
   * caller's own memory and its final place: each layer reads into it from below and then checks or
   * decrypts it there, so a host reply is copied once, straight into the buffer that keeps it (the
   * ring's slot memory, which the host can still change, is never handed up). A device keeps no
   * reference to `dst`.
   */
  readInto(block: number, dst: Uint8Array): void;
  /**
   * Writes whole blocks starting at `block`; absent on read-only devices. `data` may be a view of
   * memory that changes after the call (libext2fs's heap): a device copies what it keeps.
   */
  write?(block: number, data: Uint8Array): void;
  /** Makes earlier writes durable. */
  flush?(): void;
  /**
   * Several `readInto`s at once, for a device where each read is a round trip (the host's): all are
   * sent before the first is awaited. Optional; `readIntoMany` of `io.ts` falls back to one by one.
   */
  readIntoMany?(reads: readonly BlockTransfer[]): void;
  /**
   * Starts `readInto` and returns at once, for a device whose reads are round trips (the host's):
   * the device below works on it while the caller goes on, and the returned function finishes it
   * (waits, then checks or decrypts `dst` as `readInto` would, or throws as `readInto` would). Until
   * then `dst` holds nothing to trust. Optional: the block cache uses it to read the next run ahead.
   */
  startReadInto?(block: number, dst: Uint8Array): () => void;
  /** `readIntoMany` started as `startReadInto` starts `readInto`; optional like `readIntoMany`. */
  startReadIntoMany?(reads: readonly BlockTransfer[]): () => void;
  /** Several `write`s at once, sent together; optional like `readIntoMany`. */
  writeMany?(writes: readonly BlockTransfer[]): void;
}

/** One piece of a vectored transfer: whole blocks from `block` on, into or out of `data`. */
export interface BlockTransfer {
  readonly block: number;
  readonly data: Uint8Array;
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
