import { Buffer } from 'node:buffer';
import { hkdfSync } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { ImageError } from './errors.ts';
import { applyAttributes, hasMke2fs, runMke2fs } from './mke2fs.ts';
import { writeEmptyExt4 } from './mkfs.ts';
import { Ext4FullError, populateExt4 } from './populate.ts';
import type { ProgressCallback } from './progress.ts';
import type { StagedTree } from './stage.ts';

/** Options for {@link buildExt4}. */
export interface Ext4Options {
  /** Staged tree (normalized by `Stager.finish`). */
  stageDir: string;
  tree: StagedTree;
  /** Every timestamp in the file system. */
  epoch: number;
  /** File system size in bytes (rounded up to 4 KiB); default: the contents plus headroom. */
  size?: number;
  /** Scratch directory for the mke2fs configuration and debugfs script. */
  scratch: string;
  /** Who writes the file system (default 'auto': mke2fs when installed, else libext2fs). */
  builder?: Ext4Builder;
  /** Progress of libext2fs filling the file system, in bytes (mke2fs reports none). */
  onProgress?: ProgressCallback;
}

/** `mke2fs` (e2fsprogs) or the enclave's `libext2fs` (WebAssembly, no tools needed). */
export type Ext4Builder = 'auto' | 'mke2fs' | 'libext2fs';

/** The built file system. */
export interface Ext4Result {
  uuid: string;
  size: number;
  builder: Exclude<Ext4Builder, 'auto'>;
}

const BLOCK = 4096;

/** A UUID derived from the input digest, so that the same input gives the same file system. */
export function derivedUuid(seed: Uint8Array, label: string): string {
  const b = Buffer.from(hkdfSync('sha256', seed, new Uint8Array(0), label, 16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Size with headroom: contents, inode tables, metadata, plus 10 % and 1 MiB. */
function defaultSize(tree: StagedTree, inodes: number): number {
  const blocks = tree.blocks + Math.ceil((inodes * 256) / BLOCK);
  return (Math.ceil(blocks * 1.1) + 256) * BLOCK;
}

/**
 * Runs `make(size)` with the requested size, or with the estimate, growing it by half up to four
 * times when the contents do not fit.
 */
function withGrowth(opts: Ext4Options, inodes: number, make: (size: number) => void): void {
  let size = Math.ceil((opts.size ?? defaultSize(opts.tree, inodes)) / BLOCK) * BLOCK;
  for (let attempt = 0; ; attempt++) {
    try {
      make(size);
      return;
    } catch (error) {
      const full =
        error instanceof Ext4FullError ||
        /space|allocate|too small|not enough/i.test((error as Error).message);
      if (opts.size !== undefined && full) {
        throw new ImageError(`the contents do not fit in --size ${opts.size} bytes`);
      }
      if (!full || attempt >= 4) throw error;
      size = Math.ceil((size * 1.5) / BLOCK) * BLOCK;
    }
  }
}

/**
 * Builds a reproducible ext4 file system from the staged tree: with e2fsprogs' mke2fs when it is
 * installed (or asked for; `runMke2fs`, then `applyAttributes`), else with the enclave's own libext2fs (an empty file system written by
 * `writeEmptyExt4`, filled by `populateExt4`). The two give different (each reproducible) bytes.
 */
export function buildExt4(out: string, opts: Ext4Options): Ext4Result {
  const uuid = derivedUuid(opts.tree.digest, 'cloister ext4 uuid');
  const inodes = Math.max(64, Math.ceil(opts.tree.inodes * 1.25) + 16);
  const builder =
    opts.builder === undefined || opts.builder === 'auto'
      ? hasMke2fs()
        ? 'mke2fs'
        : 'libext2fs'
      : opts.builder;
  const { stageDir, epoch, scratch } = opts;
  if (builder === 'mke2fs') {
    const hashSeed = derivedUuid(opts.tree.digest, 'cloister ext4 hash seed');
    withGrowth(opts, inodes, (size) => {
      rmSync(out, { force: true });
      runMke2fs(out, { stageDir, size, inodes, uuid, hashSeed, epoch, scratch });
    });
    applyAttributes(out, opts.tree.attributes, epoch, scratch);
  } else {
    withGrowth(opts, inodes, (size) => {
      writeEmptyExt4(out, { size, inodes, uuid, epoch });
      populateExt4(out, stageDir, opts.tree, epoch, opts.onProgress);
    });
  }
  return { uuid, size: statSync(out).size, builder };
}
