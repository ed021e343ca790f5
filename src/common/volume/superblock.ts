import { createHmac, timingSafeEqual } from 'node:crypto';
import { FormatError } from '../blockdev/types.ts';
import { UNIT } from './layout.ts';

export const VOLUME_MAGIC = 'CLSTRVOL';
export const VOLUME_FORMAT_VERSION = 1;
/** Bytes covered by the MAC; the MAC follows, the rest of the 4 KiB unit is zero. */
const MACED = 128;
const MAC_SIZE = 32;

/** The fields of a superblock (either copy, A or B). */
export interface Superblock {
  uuid: Uint8Array;
  logicalBlocks: number;
  /** Incremented by every superblock write; the newest valid copy wins. */
  generation: number;
  /** Every version below this may have been used; a new session starts handing out versions here. */
  versionLimit: number;
  rootSlot: number;
  rootHash: Uint8Array;
  keyCheck: Uint8Array;
}

/**
 * Layout (little-endian): magic 0 (8), format version 8 (u32), UUID 16 (16), logical blocks 32,
 * generation 40, version limit 48 (u64 each), root slot 56 (u32), tree levels 60 (u32), root hash 64
 * (32), key check 96 (32), HMAC-SHA256 of bytes 0..128 at 128 (32).
 */
export function encodeSuperblock(sb: Superblock, levels: number, macKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(UNIT);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(VOLUME_MAGIC), 0);
  v.setUint32(8, VOLUME_FORMAT_VERSION, true);
  out.set(sb.uuid, 16);
  v.setBigUint64(32, BigInt(sb.logicalBlocks), true);
  v.setBigUint64(40, BigInt(sb.generation), true);
  v.setBigUint64(48, BigInt(sb.versionLimit), true);
  v.setUint32(56, sb.rootSlot, true);
  v.setUint32(60, levels, true);
  out.set(sb.rootHash, 64);
  out.set(sb.keyCheck, 96);
  out.set(superblockMac(out, macKey), MACED);
  return out;
}

function superblockMac(raw: Uint8Array, macKey: Uint8Array): Uint8Array {
  return createHmac('sha256', macKey).update(raw.subarray(0, MACED)).digest();
}

function u64(v: DataView, offset: number, what: string): number {
  const n = v.getBigUint64(offset, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`volume: superblock ${what} is too large`);
  return Number(n);
}

/** A superblock as read, not yet authenticated (no key needed: `inspect` uses this). */
export interface RawSuperblock extends Superblock {
  levels: number;
  raw: Uint8Array;
}

/** Parses a superblock copy without authenticating it; null when the magic is absent. */
export function parseSuperblock(raw: Uint8Array): RawSuperblock | null {
  if (new TextDecoder().decode(raw.subarray(0, 8)) !== VOLUME_MAGIC) return null;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = v.getUint32(8, true);
  if (version !== VOLUME_FORMAT_VERSION)
    throw new FormatError(`volume: unsupported format version ${version}`);
  const rootSlot = v.getUint32(56, true);
  if (rootSlot > 1) throw new FormatError(`volume: superblock root slot ${rootSlot} is not 0 or 1`);
  return {
    uuid: raw.slice(16, 32),
    logicalBlocks: u64(v, 32, 'logical block count'),
    generation: u64(v, 40, 'generation'),
    versionLimit: u64(v, 48, 'version limit'),
    rootSlot,
    levels: v.getUint32(60, true),
    rootHash: raw.slice(64, 96),
    keyCheck: raw.slice(96, 128),
    raw,
  };
}

/** True when the stored key check equals the one derived from the caller's key. */
export function keyCheckMatches(sb: RawSuperblock, keyCheck: Uint8Array): boolean {
  return timingSafeEqual(sb.keyCheck, keyCheck);
}

/** True when the superblock's MAC verifies under `macKey`. */
export function superblockMacValid(sb: RawSuperblock, macKey: Uint8Array): boolean {
  return timingSafeEqual(superblockMac(sb.raw, macKey), sb.raw.subarray(MACED, MACED + MAC_SIZE));
}
