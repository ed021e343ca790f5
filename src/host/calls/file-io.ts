/** Whole reads and writes at an offset of a host file, for the block and host-directory handlers. */
import * as fs from 'node:fs';

/** Reads up to `length` bytes at `position` into `out`, fewer only at end of file. */
export function preadFully(fd: number, out: Uint8Array, length: number, position: bigint): number {
  let n = 0;
  while (n < length) {
    const got = fs.readSync(fd, out, n, length - n, position + BigInt(n));
    if (got === 0) break;
    n += got;
  }
  return n;
}

/** Writes all of `bytes` at `position`; returns the count. */
export function pwriteFully(fd: number, bytes: Uint8Array, position: bigint): number {
  let done = 0;
  while (done < bytes.length)
    done += fs.writeSync(fd, bytes, done, bytes.length - done, Number(position) + done);
  return done;
}
