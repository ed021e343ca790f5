import { Buffer } from 'node:buffer';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { ImageError } from './errors.ts';

/** Options for {@link writeEmptyExt4}. */
export interface EmptyExt4Options {
  /** File system size in bytes (rounded down to 4 KiB). */
  size: number;
  /** Inodes wanted (rounded up to fill whole inode table blocks in every group). */
  inodes: number;
  uuid: string;
  /** Every timestamp written. */
  epoch: number;
}

const BS = 4096;
const BLOCKS_PER_GROUP = 32768;
const INODE_SIZE = 256;
const DESC_SIZE = 32;
const FIRST_INO = 11;
const ROOT_INO = 2;
const LOST_FOUND_INO = 11;
const EXTENTS_FL = 0x80000;
// The features of a plain ext4 without checksums (none to compute by hand) or journal: filetype,
// extents; sparse_super, large_file, dir_nlink, extra_isize.
const INCOMPAT = 0x2 | 0x40;
const RO_COMPAT = 0x1 | 0x2 | 0x20 | 0x40;

/** Groups with a superblock backup under sparse_super: 0, 1 and powers of 3, 5 and 7. */
function hasSuper(group: number): boolean {
  if (group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let n = base;
    while (n < group) n *= base;
    if (n === group) return true;
  }
  return false;
}

interface Group {
  start: number;
  blocks: number;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  /** First block after the group's metadata. */
  dataStart: number;
}

/** An inode with a single-extent (or empty) extent tree in i_block. */
function inode(mode: number, links: number, size: number, block: number | null, epoch: number): Uint8Array {
  const b = new Uint8Array(INODE_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0x0, mode, true);
  v.setUint32(0x4, size, true);
  for (const at of [0x8, 0xc, 0x10, 0x90]) v.setUint32(at, epoch, true);
  v.setUint16(0x1a, links, true);
  v.setUint32(0x1c, block === null ? 0 : BS / 512, true);
  v.setUint32(0x20, EXTENTS_FL, true);
  v.setUint16(0x28, 0xf30a, true); // extent header: magic, entries, max, depth
  v.setUint16(0x2a, block === null ? 0 : 1, true);
  v.setUint16(0x2c, 4, true);
  if (block !== null) {
    v.setUint32(0x34, 0, true); // extent: first logical block, length, start (hi, lo)
    v.setUint16(0x38, 1, true);
    v.setUint32(0x3c, block, true);
  }
  v.setUint16(0x80, 32, true); // i_extra_isize
  return b;
}

/** A directory block: `entries` of [inode, name], the last one taking the rest of the block. */
function dirBlock(entries: [number, string][]): Uint8Array {
  const b = new Uint8Array(BS);
  const v = new DataView(b.buffer);
  let at = 0;
  entries.forEach(([ino, name], i) => {
    const len = i === entries.length - 1 ? BS - at : 8 + Math.ceil(name.length / 4) * 4;
    v.setUint32(at, ino, true);
    v.setUint16(at + 4, len, true);
    b[at + 6] = name.length;
    b[at + 7] = 2; // directory
    b.set(Buffer.from(name, 'latin1'), at + 8);
    at += len;
  });
  return b;
}

/**
 * Lays out `blocks` blocks in groups with `inodes` inodes spread over them; null when the last group
 * is too small for its metadata (the caller drops it, as mke2fs does).
 */
function layout(
  blocks: number,
  inodes: number,
  size: number,
): { groups: Group[]; perGroup: number; gdtBlocks: number } | null {
  const groupCount = Math.ceil(blocks / BLOCKS_PER_GROUP);
  const gdtBlocks = Math.ceil((groupCount * DESC_SIZE) / BS);
  const perGroup = Math.ceil(inodes / groupCount / 16) * 16;
  if (perGroup > BLOCKS_PER_GROUP) throw new ImageError(`too many inodes (${inodes}) for ${size} bytes`);
  const itableBlocks = (perGroup * INODE_SIZE) / BS;
  const groups: Group[] = [];
  for (let g = 0; g < groupCount; g++) {
    const start = g * BLOCKS_PER_GROUP;
    const meta = start + (hasSuper(g) ? 1 + gdtBlocks : 0);
    const group = {
      start,
      blocks: Math.min(BLOCKS_PER_GROUP, blocks - start),
      blockBitmap: meta,
      inodeBitmap: meta + 1,
      inodeTable: meta + 2,
      dataStart: meta + 2 + itableBlocks,
    };
    // Room for the metadata, the two directory blocks of group 0, and a little data.
    if (group.dataStart - start + (g === 0 ? 2 : 0) + 16 > group.blocks) {
      if (g === 0) throw new ImageError(`${size} bytes is too small for a file system`);
      return null;
    }
    groups.push(group);
  }
  return { groups, perGroup, gdtBlocks };
}

/**
 * Writes an empty ext4 file system (root directory and lost+found) to `path` without e2fsprogs,
 * for libext2fs to fill in. 4 KiB blocks, 256-byte inodes, no journal, no flex_bg, no checksums.
 * Returns its size in bytes.
 */
export function writeEmptyExt4(path: string, opts: EmptyExt4Options): number {
  let blocks = Math.floor(opts.size / BS);
  let planned = layout(blocks, opts.inodes, opts.size);
  while (planned === null) {
    blocks = (Math.ceil(blocks / BLOCKS_PER_GROUP) - 1) * BLOCKS_PER_GROUP;
    planned = layout(blocks, opts.inodes, opts.size);
  }
  const { groups, perGroup, gdtBlocks } = planned;
  const itableBlocks = (perGroup * INODE_SIZE) / BS;
  const rootBlock = groups[0].dataStart;
  const lostFoundBlock = rootBlock + 1;
  const used = groups.map((g, i) => g.dataStart - g.start + (i === 0 ? 2 : 0));
  const freeBlocks = groups.reduce((n, g, i) => n + g.blocks - used[i], 0);
  const inodesCount = perGroup * groups.length;

  const sb = new Uint8Array(1024);
  const v = new DataView(sb.buffer);
  const u32 = (at: number, value: number) => v.setUint32(at, value, true);
  const u16 = (at: number, value: number) => v.setUint16(at, value, true);
  u32(0x0, inodesCount);
  u32(0x4, blocks);
  u32(0xc, freeBlocks);
  u32(0x10, inodesCount - FIRST_INO);
  u32(0x18, 2); // log2(4096 / 1024), blocks and clusters
  u32(0x1c, 2);
  u32(0x20, BLOCKS_PER_GROUP);
  u32(0x24, BLOCKS_PER_GROUP);
  u32(0x28, perGroup);
  u32(0x30, opts.epoch);
  u16(0x36, 0xffff);
  u16(0x38, 0xef53);
  u16(0x3a, 1); // clean
  u16(0x3c, 1); // on errors: continue
  u32(0x40, opts.epoch);
  u32(0x4c, 1); // dynamic revision
  u32(0x54, FIRST_INO);
  u16(0x58, INODE_SIZE);
  u32(0x60, INCOMPAT);
  u32(0x64, RO_COMPAT);
  sb.set(Buffer.from(opts.uuid.replace(/-/g, ''), 'hex'), 0x68);
  u32(0x108, opts.epoch);
  u16(0x15c, 32); // min and wanted extra inode size
  u16(0x15e, 32);

  const gdt = new Uint8Array(gdtBlocks * BS);
  const gv = new DataView(gdt.buffer);
  groups.forEach((g, i) => {
    const at = i * DESC_SIZE;
    gv.setUint32(at, g.blockBitmap, true);
    gv.setUint32(at + 4, g.inodeBitmap, true);
    gv.setUint32(at + 8, g.inodeTable, true);
    gv.setUint16(at + 12, g.blocks - used[i], true);
    gv.setUint16(at + 14, perGroup - (i === 0 ? FIRST_INO : 0), true);
    gv.setUint16(at + 16, i === 0 ? 2 : 0, true);
  });

  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, blocks * BS);
    const put = (bytes: Uint8Array, offset: number) => writeSync(fd, bytes, 0, bytes.length, offset);
    groups.forEach((g, i) => {
      if (hasSuper(i)) {
        v.setUint16(0x5a, i, true); // s_block_group_nr
        put(sb, i === 0 ? 1024 : g.start * BS);
        put(gdt, (g.start + 1) * BS);
      }
      // Bits past the group's end (and past the inodes) are set, as e2fsck expects.
      const bitmap = new Uint8Array(BS);
      const setBits = (from: number, to: number) => {
        for (let bit = from; bit < to; bit++) bitmap[bit >> 3] |= 1 << (bit & 7);
      };
      setBits(0, used[i]);
      setBits(g.blocks, BS * 8);
      put(bitmap, g.blockBitmap * BS);
      bitmap.fill(0);
      setBits(0, i === 0 ? FIRST_INO : 0);
      setBits(perGroup, BS * 8);
      put(bitmap, g.inodeBitmap * BS);
      put(new Uint8Array(itableBlocks * BS), g.inodeTable * BS);
    });
    const table = groups[0].inodeTable * BS;
    put(inode(0o40755, 3, BS, rootBlock, opts.epoch), table + (ROOT_INO - 1) * INODE_SIZE);
    put(inode(0o40700, 2, BS, lostFoundBlock, opts.epoch), table + (LOST_FOUND_INO - 1) * INODE_SIZE);
    put(
      dirBlock([
        [ROOT_INO, '.'],
        [ROOT_INO, '..'],
        [LOST_FOUND_INO, 'lost+found'],
      ]),
      rootBlock * BS,
    );
    put(
      dirBlock([
        [LOST_FOUND_INO, '.'],
        [ROOT_INO, '..'],
      ]),
      lostFoundBlock * BS,
    );
  } finally {
    closeSync(fd);
  }
  return blocks * BS;
}
