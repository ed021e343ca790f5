import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import type { BlockDevice } from '../../src/common/blockdev/types.ts';
import { Geometry, UNIT } from '../../src/common/volume/layout.ts';

export const KEY = new Uint8Array(32).fill(7);
export const UUID = new Uint8Array(16).fill(0xab);

/** A raw device of `units` 4 KiB units over 512-byte sectors (as the host's image file is). */
export function rawDevice(units: number): MemoryBlockDevice {
  return new MemoryBlockDevice(new Uint8Array(units * UNIT), 512);
}

/** The raw device exactly big enough for a volume of `blocks` logical blocks. */
export function deviceFor(blocks: number): MemoryBlockDevice {
  return rawDevice(new Geometry(blocks).totalUnits);
}

/** A distinct block's worth of bytes for (block, generation of the test's writes). */
export function blockData(block: number, seed: number): Uint8Array {
  const out = new Uint8Array(UNIT);
  for (let i = 0; i < UNIT; i += 4)
    new DataView(out.buffer).setUint32(i, (block * 7919 + seed * 104729 + i) >>> 0);
  return out;
}

/** Thrown by {@link CrashingDevice} where the process would have died. */
export class Crash extends Error {}

/**
 * A device that persists its first `limit` writes and then "dies" (throws on every later call), as a
 * kill -9 at that point would leave the image. With `tear`, the write that crosses the limit is torn:
 * all but its first sector persist.
 */
export class CrashingDevice implements BlockDevice {
  writes = 0;
  constructor(
    readonly inner: MemoryBlockDevice,
    readonly limit = Infinity,
    readonly tear = false,
  ) {}
  get blockSize(): number {
    return this.inner.blockSize;
  }
  get blockCount(): number {
    return this.inner.blockCount;
  }
  readInto(block: number, dst: Uint8Array): void {
    if (this.writes > this.limit) throw new Crash('crashed');
    this.inner.readInto(block, dst);
  }
  write(block: number, data: Uint8Array): void {
    if (this.writes >= this.limit) {
      if (this.tear && this.writes === this.limit && data.length > this.blockSize)
        this.inner.write(block + 1, data.subarray(this.blockSize));
      this.writes++;
      throw new Crash('crashed');
    }
    this.writes++;
    this.inner.write(block, data);
  }
  flush(): void {
    if (this.writes > this.limit) throw new Crash('crashed');
  }
}

/** The bytes of raw unit `unit` of a memory device (a live view: changing it is the host tampering). */
export function unitBytes(dev: MemoryBlockDevice, unit: number): Uint8Array {
  return dev.bytes.subarray(unit * UNIT, (unit + 1) * UNIT);
}

/** Flips one bit at `offset` of raw unit `unit`. */
export function flipBit(dev: MemoryBlockDevice, unit: number, offset = 100): void {
  unitBytes(dev, unit)[offset] ^= 0x10;
}
