import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { checkBlockSize, checkTransfer } from '../common/blockdev/io.ts';
import { BlockDeviceError, type BlockDevice } from '../common/blockdev/types.ts';

/** How a {@link FileBlockDevice} opens its file. */
export interface FileDeviceOptions {
  /** Bytes per block (default 4096). */
  blockSize?: number;
  /** Open for writing too (default false). */
  writable?: boolean;
  /** Addressable blocks (default: as many whole blocks as the file holds). */
  blockCount?: number;
  /**
   * `flush` waits for the writes to be durable, fsync (default true). An image being built needs
   * it not: an interrupted build is thrown away whole.
   */
  durable?: boolean;
}

/**
 * The block device over a host file, for the host side (the image builder, `image inspect/verify`,
 * volume creation): reads land in the caller's buffer, writes go straight to the file, `flush` is
 * fsync (unless not `durable`). A trailing partial block is not addressable.
 */
export class FileBlockDevice implements BlockDevice {
  readonly blockSize: number;
  readonly blockCount: number;
  private readonly fd: number;
  private readonly writable: boolean;
  private readonly ownsFd: boolean;
  private readonly durable: boolean;
  readonly path: string;

  /** @param file a path, or a descriptor the caller opened (and closes) */
  constructor(file: string | number, options: FileDeviceOptions | number = {}) {
    const opts = typeof options === 'number' ? { blockSize: options } : options;
    this.blockSize = opts.blockSize ?? 4096;
    checkBlockSize(this.blockSize);
    this.writable = opts.writable ?? false;
    this.durable = opts.durable ?? true;
    this.ownsFd = typeof file === 'string';
    this.path = typeof file === 'string' ? file : `fd ${file}`;
    this.fd = typeof file === 'string' ? openSync(file, this.writable ? 'r+' : 'r') : file;
    this.blockCount = opts.blockCount ?? Math.floor(fstatSync(this.fd).size / this.blockSize);
    if (this.writable) this.write = this.writeBlocks;
  }

  readInto(block: number, dst: Uint8Array): void {
    checkTransfer(this, block, dst);
    const at = block * this.blockSize;
    for (let done = 0; done < dst.length;) {
      const n = readSync(this.fd, dst, done, dst.length - done, at + done);
      if (n === 0) throw new BlockDeviceError(`${this.path}: unexpected end of file`);
      done += n;
    }
  }

  /** Present when opened writable. */
  write?: (block: number, data: Uint8Array) => void;

  private writeBlocks(block: number, data: Uint8Array): void {
    checkTransfer(this, block, data);
    const at = block * this.blockSize;
    for (let done = 0; done < data.length;)
      done += writeSync(this.fd, data, done, data.length - done, at + done);
  }

  flush(): void {
    if (this.writable && this.durable) fsyncSync(this.fd);
  }

  close(): void {
    if (this.ownsFd) closeSync(this.fd);
  }
}
