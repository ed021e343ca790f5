import { createHash, timingSafeEqual } from 'node:crypto';
import { parseLuks2Json, type Luks2Metadata } from './luks2-json.ts';
import { FormatError } from './types.ts';

/** Size of the binary part of each header copy. */
export const LUKS2_BINARY_SIZE = 4096;
/** The header sizes (binary + JSON area) LUKS2 allows; the secondary copy starts at this offset. */
export const LUKS2_HEADER_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((k) => k * 1024);
/** Magic of the primary header copy, "LUKS\xba\xbe". */
export const LUKS2_MAGIC_PRIMARY = Uint8Array.of(0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe);
/** Magic of the secondary header copy, "SKUL\xba\xbe". */
export const LUKS2_MAGIC_SECONDARY = Uint8Array.of(0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe);

/** Field offsets in `struct luks2_hdr_disk` (big-endian integers). */
export const HDR = {
  magic: 0,
  version: 6,
  hdrSize: 8,
  seqid: 16,
  label: 24,
  checksumAlg: 72,
  salt: 104,
  uuid: 168,
  subsystem: 208,
  hdrOffset: 256,
  csum: 448,
} as const;

/** One validated header copy. */
export interface Luks2Header {
  /** Binary header + JSON area, in bytes. */
  hdrSize: number;
  seqid: bigint;
  label: string;
  subsystem: string;
  uuid: string;
  /** The JSON text (up to its terminating NUL). */
  json: string;
  metadata: Luks2Metadata;
}

/** SHA-256 over the header copy with its checksum field zeroed, as LUKS2 defines the checksum. */
export function luks2Checksum(copy: Uint8Array): Uint8Array {
  const zeroed = copy.slice();
  zeroed.fill(0, HDR.csum, HDR.csum + 64);
  return createHash('sha256').update(zeroed).digest();
}

function cString(bytes: Uint8Array, from: number, size: number, what: string): string {
  const field = bytes.subarray(from, from + size);
  const end = field.indexOf(0);
  if (end < 0) throw new FormatError(`LUKS2: ${what} is not NUL-terminated`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(field.subarray(0, end));
  } catch {
    throw new FormatError(`LUKS2: ${what} is not valid UTF-8`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The header size a copy's binary header claims, after checking the magic expected at `offset` and the version. */
export function claimedHeaderSize(binary: Uint8Array, offset: number): number {
  const magic = offset === 0 ? LUKS2_MAGIC_PRIMARY : LUKS2_MAGIC_SECONDARY;
  if (!sameBytes(binary.subarray(0, 6), magic))
    throw new FormatError('LUKS2: bad magic (not a LUKS2 header)');
  const view = new DataView(binary.buffer, binary.byteOffset, LUKS2_BINARY_SIZE);
  const version = view.getUint16(HDR.version, false);
  if (version !== 2) throw new FormatError(`LUKS2: unsupported version ${version}`);
  const size = view.getBigUint64(HDR.hdrSize, false);
  if (!LUKS2_HEADER_SIZES.includes(Number(size))) throw new FormatError(`LUKS2: invalid header size ${size}`);
  return Number(size);
}

/**
 * Validates one header copy (`copy` = hdrSize bytes read at `offset`): magic, version 2, header size,
 * its own offset, checksum algorithm sha256, the checksum itself, then the JSON metadata.
 */
export function parseHeaderCopy(copy: Uint8Array, offset: number): Luks2Header {
  if (copy.length < LUKS2_BINARY_SIZE) throw new FormatError('LUKS2: header is truncated');
  const hdrSize = claimedHeaderSize(copy, offset);
  const view = new DataView(copy.buffer, copy.byteOffset, LUKS2_BINARY_SIZE);
  if (copy.length !== hdrSize) throw new FormatError('LUKS2: header is truncated');
  if (view.getBigUint64(HDR.hdrOffset, false) !== BigInt(offset)) {
    throw new FormatError(`LUKS2: header at ${offset} claims another offset`);
  }
  const alg = cString(copy, HDR.checksumAlg, 32, 'checksum algorithm');
  if (alg !== 'sha256') throw new FormatError(`LUKS2: unsupported checksum algorithm '${alg}'`);
  const stored = copy.subarray(HDR.csum, HDR.csum + 64);
  if (!timingSafeEqual(luks2Checksum(copy), stored.subarray(0, 32)) || stored.subarray(32).some((b) => b)) {
    throw new FormatError(`LUKS2: header at ${offset} fails its checksum`);
  }
  const area = copy.subarray(LUKS2_BINARY_SIZE);
  const end = area.indexOf(0);
  if (end < 0) throw new FormatError('LUKS2: JSON area is not NUL-terminated');
  const json = new TextDecoder('utf-8', { fatal: true }).decode(area.subarray(0, end));
  const uuid = cString(copy, HDR.uuid, 40, 'UUID');
  if (!/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/.test(uuid)) {
    throw new FormatError(`LUKS2: malformed UUID '${uuid}'`);
  }
  return {
    hdrSize,
    seqid: view.getBigUint64(HDR.seqid, false),
    label: cString(copy, HDR.label, 48, 'label'),
    subsystem: cString(copy, HDR.subsystem, 48, 'subsystem'),
    uuid: uuid.toLowerCase(),
    json,
    metadata: parseLuks2Json(json, hdrSize),
  };
}
