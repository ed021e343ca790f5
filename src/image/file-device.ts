import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { checkRange } from '../enclave/blockdev/io.ts';
import { BlockDeviceError, type BlockDevice } from '../enclave/blockdev/types.ts';

/** A read-only block device over a host file (host-side checks with the enclave's readers). */
export class FileBlockDevice implements BlockDevice {
  readonly blockCount: number;
  private readonly fd: number;

  constructor(
    readonly path: string,
    readonly blockSize = 4096,
  ) {
    this.fd = openSync(path, 'r');
    this.blockCount = Math.floor(fstatSync(this.fd).size / blockSize);
  }

  read(block: number, count: number): Uint8Array {
    checkRange(this, block, count);
    const buf = new Uint8Array(count * this.blockSize);
    for (let done = 0; done < buf.length;) {
      const n = readSync(this.fd, buf, done, buf.length - done, block * this.blockSize + done);
      if (n === 0) throw new BlockDeviceError(`${this.path}: unexpected end of file`);
      done += n;
    }
    return buf;
  }

  close(): void {
    closeSync(this.fd);
  }
}
