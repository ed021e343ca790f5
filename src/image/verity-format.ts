import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { VERITY_DIGEST_SIZE, verityLayout, type VerityParams } from '../common/blockdev/verity-layout.ts';
import { encodeVeritySuperblock } from '../common/blockdev/verity-superblock.ts';

/** Options for building a dm-verity hash tree (defaults as `veritysetup format`). */
export interface VerityFormatOptions {
  /** Default 4096. */
  dataBlockSize?: number;
  /** Default 4096. */
  hashBlockSize?: number;
  /** Default: 32 random bytes. */
  salt?: Uint8Array;
  /** Superblock UUID, 16 bytes or the usual 36-character form; default random. */
  uuid?: Uint8Array | string;
  /** Write a superblock (default true); without it the caller must keep the parameters. */
  superblock?: boolean;
}

/** A built tree: the bytes to place at `params.hashOffset` on the hash device, and the root hash. */
export interface VerityTree {
  params: VerityParams;
  /** Superblock (if any) and hash tree, starting at `params.hashOffset`. */
  hashArea: Uint8Array;
  /** The root hash, lower-case hex, as `veritysetup format` prints it. */
  rootHash: string;
}

function uuidBytes(uuid: Uint8Array | string | undefined): Uint8Array {
  if (uuid === undefined) return randomBytes(16);
  if (typeof uuid !== 'string') return uuid;
  if (!/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(uuid)) throw new Error(`invalid UUID '${uuid}'`);
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/**
 * Builds a format-1 SHA-256 hash tree over `dataBlocks` blocks read through `readData(offset, length)`,
 * laid out exactly as veritysetup does for a hash device whose superblock sits at `hashOffset`.
 */
export function buildVerityTree(
  readData: (offset: number, length: number) => Uint8Array,
  dataBlocks: number,
  hashOffset: number,
  opts: VerityFormatOptions = {},
): VerityTree {
  const params: VerityParams = {
    dataBlockSize: opts.dataBlockSize ?? 4096,
    hashBlockSize: opts.hashBlockSize ?? 4096,
    dataBlocks,
    salt: opts.salt ?? randomBytes(32),
    hashOffset,
    superblock: opts.superblock ?? true,
  };
  const layout = verityLayout(params);
  const hbs = params.hashBlockSize;
  const hashArea = new Uint8Array(layout.hashEnd * hbs - hashOffset);
  if (params.superblock) hashArea.set(encodeVeritySuperblock(params, uuidBytes(opts.uuid)), 0);
  const digest = (block: Uint8Array) => createHash('sha256').update(params.salt).update(block).digest();

  // Level 0 hashes the data, streamed in chunks; each later level hashes the one below it.
  const chunkBlocks = Math.max(1, Math.floor((1 << 20) / params.dataBlockSize));
  const digestsOf = (level: number): ((i: number) => Uint8Array) => {
    if (level === 0) {
      let chunkStart = 0;
      let chunk: Uint8Array = new Uint8Array(0);
      return (i) => {
        if (i < chunkStart || (i - chunkStart) * params.dataBlockSize >= chunk.length) {
          chunkStart = i;
          const n = Math.min(chunkBlocks, dataBlocks - i);
          chunk = readData(i * params.dataBlockSize, n * params.dataBlockSize);
        }
        const at = (i - chunkStart) * params.dataBlockSize;
        return digest(chunk.subarray(at, at + params.dataBlockSize));
      };
    }
    const start = layout.levelStart[level - 1] * hbs - hashOffset;
    return (i) => digest(hashArea.subarray(start + i * hbs, start + (i + 1) * hbs));
  };
  for (let level = 0; level < layout.levels; level++) {
    const items = level === 0 ? dataBlocks : layout.levelBlocks[level - 1];
    const hashOf = digestsOf(level);
    const base = layout.levelStart[level] * hbs - hashOffset;
    for (let i = 0; i < items; i++) hashArea.set(hashOf(i), base + i * VERITY_DIGEST_SIZE);
  }
  const top =
    layout.levels === 0
      ? digestsOf(0)(0)
      : digest(hashArea.subarray(layout.levelStart[layout.levels - 1] * hbs - hashOffset).subarray(0, hbs));
  return { params, hashArea, rootHash: Buffer.from(top).toString('hex') };
}

/** Options for {@link formatVerityFile}. */
export interface VerityFileOptions extends VerityFormatOptions {
  /** Write the tree to this file (created or overwritten) instead of appending it to the data file. */
  hashPath?: string;
}

/**
 * Protects a data file with dm-verity as `veritysetup format` would: the tree goes to `hashPath`
 * (offset 0), or is appended to the data file right after the data (`--hash-offset` = data size).
 * The data file's size must be a multiple of the data block size.
 */
export function formatVerityFile(dataPath: string, opts: VerityFileOptions = {}): VerityTree {
  const dataBlockSize = opts.dataBlockSize ?? 4096;
  const fd = openSync(dataPath, opts.hashPath === undefined ? 'r+' : 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0 || size % dataBlockSize !== 0) {
      throw new Error(`${dataPath}: size ${size} is not a positive multiple of ${dataBlockSize}`);
    }
    const read = (offset: number, length: number) => {
      const buf = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw new Error(`${dataPath}: unexpected end of file`);
        done += n;
      }
      return buf;
    };
    const hashOffset = opts.hashPath === undefined ? size : 0;
    const tree = buildVerityTree(read, size / dataBlockSize, hashOffset, opts);
    const out = opts.hashPath === undefined ? fd : openSync(opts.hashPath, 'w');
    try {
      writeSync(out, tree.hashArea, 0, tree.hashArea.length, hashOffset);
    } finally {
      if (out !== fd) closeSync(out);
    }
    return tree;
  } finally {
    closeSync(fd);
  }
}
