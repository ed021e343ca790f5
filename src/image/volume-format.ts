import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import type { BlockDevice } from '../enclave/blockdev/types.ts';
import { Geometry, UNIT } from '../enclave/volume/layout.ts';
import { parseSuperblock } from '../enclave/volume/superblock.ts';
import { formatVolume } from '../enclave/volume/volume.ts';

/** Options for {@link createVolumeFile}. */
export interface CreateVolumeOptions {
  /** 16-byte volume UUID; default drawn from `random`. */
  uuid?: Uint8Array;
  /** Source of random bytes (the UUID); default node:crypto's. */
  random?: (length: number) => Uint8Array;
  /**
   * A plaintext image (bytes, or the path of a file, e.g. an ext4 made by `mke2fs`) encrypted into
   * the new volume; it must fit in `sizeBytes`. All-zero blocks are skipped (they read as zeros).
   */
  initialContent?: Uint8Array | string;
}

/** A block device over an open file: 4 KiB blocks, fsync on flush (host side only). */
class FileBlockDevice implements BlockDevice {
  readonly blockSize = UNIT;
  constructor(
    private readonly fd: number,
    readonly blockCount: number,
  ) {}
  read(block: number, count: number): Uint8Array {
    const out = new Uint8Array(count * UNIT);
    const n = readSync(this.fd, out, 0, out.length, block * UNIT);
    return out.subarray(0, n);
  }
  write(block: number, data: Uint8Array): void {
    writeSync(this.fd, data, 0, data.length, block * UNIT);
  }
  flush(): void {
    fsyncSync(this.fd);
  }
}

/** Calls `f` with each 4 KiB block of the initial content (the last one zero-padded). */
function eachContentBlock(content: Uint8Array | string, f: (block: number, data: Uint8Array) => void): void {
  if (typeof content !== 'string') {
    for (let b = 0; b * UNIT < content.length; b++) {
      const data = new Uint8Array(UNIT);
      data.set(content.subarray(b * UNIT, (b + 1) * UNIT));
      f(b, data);
    }
    return;
  }
  const fd = openSync(content, 'r');
  try {
    const blocks = Math.ceil(fstatSync(fd).size / UNIT);
    for (let b = 0; b < blocks; b++) {
      const data = new Uint8Array(UNIT);
      readSync(fd, data, 0, UNIT, b * UNIT);
      f(b, data);
    }
  } finally {
    closeSync(fd);
  }
}

function contentBytes(content: Uint8Array | string): number {
  if (typeof content !== 'string') return content.length;
  const fd = openSync(content, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates (or overwrites) `path` as a formatted volume of `sizeBytes` logical capacity (a multiple
 * of 4096) under the 32-byte `key`. The file is about twice as big plus 1/64 (two slots per block and
 * per metadata node), but sparse: only the superblocks, the tree and the written blocks take space.
 * Returns the volume's UUID and generation.
 */
export function createVolumeFile(
  path: string,
  sizeBytes: number,
  key: Uint8Array,
  opts: CreateVolumeOptions = {},
): { uuid: Uint8Array; generation: number; fileBytes: number } {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % UNIT !== 0)
    throw new RangeError(`volume size ${sizeBytes} is not a positive multiple of ${UNIT}`);
  if (opts.initialContent !== undefined && contentBytes(opts.initialContent) > sizeBytes)
    throw new RangeError(`initial content does not fit in a ${sizeBytes}-byte volume`);
  const geo = new Geometry(sizeBytes / UNIT);
  const uuid = opts.uuid ?? opts.random?.(16);
  const fd = openSync(path, 'w+');
  try {
    ftruncateSync(fd, geo.totalUnits * UNIT);
    const vol = formatVolume(new FileBlockDevice(fd, geo.totalUnits), key, {
      uuid,
      logicalBlocks: geo.logicalBlocks,
    });
    if (opts.initialContent !== undefined) {
      eachContentBlock(opts.initialContent, (block, data) => {
        if (data.some((x) => x !== 0)) vol.write(block, data);
      });
      vol.flush();
    }
    return { uuid: vol.uuid, generation: vol.generation, fileBytes: geo.totalUnits * UNIT };
  } finally {
    closeSync(fd);
  }
}

/** What `inspect` shows of a volume without its key (unauthenticated: the host could have lied). */
export interface VolumeInfo {
  uuid: string;
  /** Logical capacity in bytes. */
  sizeBytes: number;
  logicalBlocks: number;
  /** The newest superblock copy's generation (by its claim; only the key can check it). */
  generation: number;
  fileBytes: number;
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Reads a volume file's superblocks (no key needed) and reports the newest copy's fields. */
export function readVolumeInfo(path: string): VolumeInfo {
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    const copies = [0, 1].flatMap((slot) => {
      const raw = new Uint8Array(UNIT);
      if (readSync(fd, raw, 0, UNIT, slot * UNIT) !== UNIT) return [];
      const sb = parseSuperblock(raw);
      return sb ? [sb] : [];
    });
    if (copies.length === 0) throw new Error(`${path}: not a Cloister volume (no superblock)`);
    const sb = copies.reduce((a, b) => (b.generation > a.generation ? b : a));
    return {
      uuid: uuidString(sb.uuid),
      sizeBytes: sb.logicalBlocks * UNIT,
      logicalBlocks: sb.logicalBlocks,
      generation: sb.generation,
      fileBytes,
    };
  } finally {
    closeSync(fd);
  }
}
