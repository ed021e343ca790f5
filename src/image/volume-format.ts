import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  openSync,
  readSync,
  rmSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileBlockDevice } from './file-device.ts';
import { Geometry, UNIT } from '../common/volume/layout.ts';
import { parseSuperblock } from '../common/volume/superblock.ts';
import { formatVolume } from '../common/volume/volume.ts';

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
  /** Aborts the creation (e.g. on SIGINT): the temporary file is removed, nothing is created. */
  signal?: AbortSignal;
  /** Told the bytes of initial content written so far, of the total, after each chunk. */
  onProgress?: (done: number, total: number) => void;
}

/** Bytes read from the initial content at a time; the work yields to signals between chunks. */
const CHUNK = 1 << 20;

/** Each 4 KiB block of the initial content (the last one zero-padded), a chunk at a time. */
async function* contentBlocks(content: Uint8Array | string): AsyncGenerator<[number, Uint8Array]> {
  const fd = typeof content === 'string' ? openSync(content, 'r') : undefined;
  try {
    const size = fd === undefined ? (content as Uint8Array).length : fstatSync(fd).size;
    for (let offset = 0; offset < size; offset += CHUNK) {
      const chunk = new Uint8Array(Math.min(CHUNK, size - offset));
      if (fd === undefined) chunk.set((content as Uint8Array).subarray(offset, offset + chunk.length));
      else readSync(fd, chunk, 0, chunk.length, offset);
      for (let at = 0; at < chunk.length; at += UNIT) {
        const data = new Uint8Array(UNIT);
        data.set(chunk.subarray(at, at + UNIT));
        yield [(offset + at) / UNIT, data];
      }
      // Let a pending signal handler run (and abort) between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
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

/** The temporary file a volume is built in: beside the target (same file system, for `link`). */
function draftPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.creating-${randomBytes(6).toString('hex')}`);
}

/**
 * Creates `path` as a formatted volume of `sizeBytes` logical capacity (a multiple of 4096) under the
 * 32-byte `key`. The file is about twice as big plus 1/64 (two slots per block and per metadata
 * node), but sparse: only the superblocks, the tree and the written blocks take space.
 *
 * Atomic: the volume is built in a temporary file beside `path`, made durable, and only then linked
 * to `path` (never replacing an existing file). On any error, or when `signal` aborts, the temporary
 * file is removed and `path` never exists. Returns the volume's UUID and generation.
 */
export async function createVolumeFile(
  path: string,
  sizeBytes: number,
  key: Uint8Array,
  opts: CreateVolumeOptions = {},
): Promise<{ uuid: Uint8Array; generation: number; fileBytes: number }> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % UNIT !== 0)
    throw new RangeError(`volume size ${sizeBytes} is not a positive multiple of ${UNIT}`);
  if (opts.initialContent !== undefined && contentBytes(opts.initialContent) > sizeBytes)
    throw new RangeError(`initial content does not fit in a ${sizeBytes}-byte volume`);
  if (existsSync(path)) throw new Error(`${path} exists; refusing to overwrite it`);
  const geo = new Geometry(sizeBytes / UNIT);
  const uuid = opts.uuid ?? opts.random?.(16);
  const draft = draftPath(path);
  const fd = openSync(draft, 'wx', 0o600);
  let closed = false;
  try {
    ftruncateSync(fd, geo.totalUnits * UNIT);
    const vol = formatVolume(new FileBlockDevice(fd, { writable: true, blockCount: geo.totalUnits }), key, {
      uuid,
      logicalBlocks: geo.logicalBlocks,
    });
    if (opts.initialContent !== undefined) {
      const total = contentBytes(opts.initialContent);
      for await (const [block, data] of contentBlocks(opts.initialContent)) {
        opts.signal?.throwIfAborted();
        if (data.some((x) => x !== 0)) vol.write(block, data);
        if ((block + 1) % (CHUNK / UNIT) === 0) opts.onProgress?.(Math.min(total, (block + 1) * UNIT), total);
      }
      vol.flush();
      opts.onProgress?.(total, total);
    }
    opts.signal?.throwIfAborted();
    closeSync(fd);
    closed = true;
    // link(2) fails if `path` appeared meanwhile: an existing file is never replaced.
    linkSync(draft, path);
    syncDirectory(dirname(path));
    return { uuid: vol.uuid, generation: vol.generation, fileBytes: geo.totalUnits * UNIT };
  } finally {
    if (!closed) closeSync(fd);
    rmSync(draft, { force: true });
  }
}

/** Makes a new directory entry durable. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
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
