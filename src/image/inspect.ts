import { Buffer } from 'node:buffer';
import { readBytes } from '../common/blockdev/io.ts';
import { readLuks2Header } from '../common/blockdev/luks2.ts';
import { VERITY_SB_SIZE, verityLayout } from '../common/blockdev/verity-layout.ts';
import { parseVeritySuperblock } from '../common/blockdev/verity-superblock.ts';
import { FormatError } from '../common/blockdev/types.ts';
import { readDescriptor, type ImageDescriptor } from './descriptor.ts';
import { ImageError } from './errors.ts';
import { FileBlockDevice } from './file-device.ts';
import { findAppendedVerity } from './verify.ts';

/** One region of the image file. */
export interface Region {
  offset: number;
  size: number;
  what: string;
}

/** What `cloister image inspect` reports; every field read from the on-disk headers. */
export interface ImageInfo {
  path: string;
  size: number;
  /** From the descriptor (the headers do not carry it); null without one. */
  rootHash: string | null;
  descriptor: ImageDescriptor | null;
  layout: Region[];
  verity: {
    hashOffset: number;
    dataBlocks: number;
    dataBlockSize: number;
    hashBlockSize: number;
    hashAlgorithm: string;
    salt: string;
    uuid: string;
    levels: number;
    hashSize: number;
  } | null;
  luks2: {
    uuid: string;
    label: string;
    headerSize: number;
    dataOffset: number;
    sectorSize: number;
    cipher: string;
    keyslots: {
      id: number;
      keyBits: number;
      priority: number;
      kdf: string;
      areaOffset: number;
      areaSize: number;
    }[];
  } | null;
  ext4: {
    offset: number;
    blockSize: number;
    blocks: number;
    freeBlocks: number;
    inodes: number;
    freeInodes: number;
    uuid: string;
  } | null;
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Reads an ext4 superblock at `offset`, or null when there is none. */
function ext4At(dev: FileBlockDevice, offset: number): ImageInfo['ext4'] {
  if (offset + 2048 > dev.blockCount * dev.blockSize) return null;
  const sb = readBytes(dev, offset + 1024, 1024);
  const v = new DataView(sb.buffer, sb.byteOffset, sb.length);
  if (v.getUint16(0x38, true) !== 0xef53) return null;
  const is64 = (v.getUint32(0x60, true) & 0x80) !== 0;
  const wide = (lo: number, hi: number) =>
    v.getUint32(lo, true) + (is64 ? v.getUint32(hi, true) * 2 ** 32 : 0);
  return {
    offset,
    blockSize: 1024 << v.getUint32(0x18, true),
    blocks: wide(0x4, 0x150),
    freeBlocks: wide(0xc, 0x158),
    inodes: v.getUint32(0x0, true),
    freeInodes: v.getUint32(0x10, true),
    uuid: uuidString(sb.subarray(0x68, 0x78)),
  };
}

/** Reads the descriptor (if any) and the verity, LUKS2 and ext4 headers of an image. */
export function inspectImage(image: string): ImageInfo {
  const descriptor = readDescriptor(image);
  const dev = new FileBlockDevice(image, 512);
  try {
    const size = dev.blockCount * dev.blockSize;
    if (size === 0) throw new ImageError(`${image}: empty file`);
    const hashOffset = descriptor?.verity.hashOffset ?? findAppendedVerity(dev);
    let verity: ImageInfo['verity'] = null;
    if (hashOffset !== null && hashOffset + VERITY_SB_SIZE <= size) {
      const sb = parseVeritySuperblock(readBytes(dev, hashOffset, VERITY_SB_SIZE), hashOffset);
      const layout = verityLayout(sb.params);
      verity = {
        hashOffset,
        dataBlocks: sb.params.dataBlocks,
        dataBlockSize: sb.params.dataBlockSize,
        hashBlockSize: sb.params.hashBlockSize,
        hashAlgorithm: 'sha256',
        salt: Buffer.from(sb.params.salt).toString('hex'),
        uuid: uuidString(sb.uuid),
        levels: layout.levels,
        hashSize: layout.hashEnd * sb.params.hashBlockSize - hashOffset,
      };
    }
    let luks2: ImageInfo['luks2'] = null;
    const magic = readBytes(dev, 0, 6);
    if (Buffer.from(magic).equals(Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]))) {
      const h = readLuks2Header(dev);
      const seg = h.metadata.segments[0];
      luks2 = {
        uuid: h.uuid,
        label: h.label,
        headerSize: h.hdrSize,
        dataOffset: seg.offset,
        sectorSize: seg.sectorSize,
        cipher: seg.encryption,
        keyslots: h.metadata.keyslots.map((k) => ({
          id: k.id,
          keyBits: k.keySize * 8,
          priority: k.priority,
          kdf:
            k.kdf.type === 'pbkdf2'
              ? `pbkdf2-${k.kdf.hash}, ${k.kdf.iterations} iterations`
              : `${k.kdf.type}, time ${k.kdf.time}, memory ${k.kdf.memory} KiB, ${k.kdf.cpus} lanes`,
          areaOffset: k.area.offset,
          areaSize: k.area.size,
        })),
      };
    }
    const ext4 = luks2 ? null : ext4At(dev, 0);
    const dataEnd = verity ? verity.hashOffset : size;
    const layout: Region[] = [];
    if (luks2) {
      layout.push({ offset: 0, size: luks2.dataOffset, what: 'LUKS2 headers and keyslots' });
      layout.push({
        offset: luks2.dataOffset,
        size: dataEnd - luks2.dataOffset,
        what: `encrypted data (${luks2.cipher}, ${luks2.sectorSize}-byte sectors)`,
      });
    } else {
      layout.push({ offset: 0, size: dataEnd, what: ext4 ? 'ext4 file system' : 'data (not ext4)' });
    }
    if (verity)
      layout.push({
        offset: verity.hashOffset,
        size: verity.hashSize,
        what: 'dm-verity superblock and hash tree',
      });
    const end = verity ? verity.hashOffset + verity.hashSize : dataEnd;
    if (end < size) layout.push({ offset: end, size: size - end, what: 'unused' });
    return {
      path: image,
      size,
      rootHash: descriptor?.rootHash ?? null,
      descriptor,
      layout,
      verity,
      luks2,
      ext4,
    };
  } catch (error) {
    if (error instanceof FormatError) throw new ImageError(`${image}: ${error.message}`);
    throw error;
  } finally {
    dev.close();
  }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** Human-readable form of {@link inspectImage}'s result. */
export function formatImageInfo(info: ImageInfo): string {
  const lines = [`${info.path}: ${info.size} bytes (${mib(info.size)})`, 'layout:'];
  for (const r of info.layout)
    lines.push(`  ${String(r.offset).padStart(12)}  ${String(r.size).padStart(12)}  ${r.what}`);
  lines.push(`root hash:  ${info.rootHash ?? '(unknown: no descriptor; the image does not carry it)'}`);
  const v = info.verity;
  if (v) {
    lines.push(
      `verity:     hash offset ${v.hashOffset}, ${v.dataBlocks} data blocks of ${v.dataBlockSize} bytes, ` +
        `${v.hashBlockSize}-byte hash blocks, ${v.hashAlgorithm}, ${v.levels} levels`,
      `            salt ${v.salt}`,
      `            uuid ${v.uuid}`,
    );
  } else lines.push('verity:     none found');
  const l = info.luks2;
  if (l) {
    lines.push(
      `luks2:      uuid ${l.uuid}, ${l.cipher}, ${l.sectorSize}-byte sectors, data at ${l.dataOffset}`,
    );
    for (const k of l.keyslots) lines.push(`            keyslot ${k.id}: ${k.keyBits}-bit key, ${k.kdf}`);
  }
  const e = info.ext4;
  if (e) {
    lines.push(
      `ext4:       uuid ${e.uuid}, ${e.blocks} blocks of ${e.blockSize} bytes (${e.freeBlocks} free), ` +
        `${e.inodes} inodes (${e.freeInodes} free)`,
    );
  } else if (l) lines.push('ext4:       encrypted');
  return lines.join('\n');
}
