import { VERITY_SB_SIZE, checkVerityParams, type VerityParams } from './verity-layout.ts';
import { FormatError } from './types.ts';

const MAGIC = 'verity\0\0';
const ALGORITHM = 'sha256';

/** The fields of a format-1 superblock that are not part of `VerityParams`. */
export interface VeritySuperblockInfo {
  /** The hash device's UUID as stored (16 bytes). */
  uuid: Uint8Array;
}

/**
 * Parses a 512-byte dm-verity superblock (`struct verity_sb`, little-endian) and validates every
 * field: magic, version 1, hash type 1 (normal), algorithm sha256, block sizes, salt size, block count.
 */
export function parseVeritySuperblock(
  sb: Uint8Array,
  hashOffset: number,
): { params: VerityParams } & VeritySuperblockInfo {
  if (sb.length < VERITY_SB_SIZE) throw new FormatError('dm-verity: superblock is truncated');
  const view = new DataView(sb.buffer, sb.byteOffset, VERITY_SB_SIZE);
  const text = (from: number, to: number) => String.fromCharCode(...sb.subarray(from, to));
  if (text(0, 8) !== MAGIC) throw new FormatError('dm-verity: no superblock (bad magic)');
  const version = view.getUint32(8, true);
  if (version !== 1) throw new FormatError(`dm-verity: unsupported superblock version ${version}`);
  const hashType = view.getUint32(12, true);
  if (hashType !== 1) throw new FormatError(`dm-verity: unsupported hash type ${hashType} (only 1, normal)`);
  const alg = sb.subarray(32, 64);
  const nul = alg.indexOf(0);
  if (nul < 0 || alg.subarray(nul).some((b) => b !== 0))
    throw new FormatError('dm-verity: malformed algorithm name');
  const algorithm = text(32, 32 + nul).toLowerCase();
  if (algorithm !== ALGORITHM) throw new FormatError(`dm-verity: unsupported hash algorithm '${algorithm}'`);
  const dataBlocks = view.getBigUint64(72, true);
  if (dataBlocks > BigInt(Number.MAX_SAFE_INTEGER))
    throw new FormatError('dm-verity: data block count too large');
  const saltSize = view.getUint16(80, true);
  if (saltSize > 256) throw new FormatError(`dm-verity: salt size ${saltSize} exceeds 256`);
  const params: VerityParams = {
    dataBlockSize: view.getUint32(64, true),
    hashBlockSize: view.getUint32(68, true),
    dataBlocks: Number(dataBlocks),
    salt: sb.slice(88, 88 + saltSize),
    hashOffset,
    superblock: true,
  };
  checkVerityParams(params);
  return { params, uuid: sb.slice(16, 32) };
}

/** Encodes a format-1 superblock for `params` (host-side image writers use this). */
export function encodeVeritySuperblock(params: VerityParams, uuid: Uint8Array): Uint8Array {
  checkVerityParams(params);
  if (uuid.length !== 16) throw new FormatError('dm-verity: UUID must be 16 bytes');
  const sb = new Uint8Array(VERITY_SB_SIZE);
  const view = new DataView(sb.buffer);
  for (let i = 0; i < MAGIC.length; i++) sb[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, 1, true);
  view.setUint32(12, 1, true);
  sb.set(uuid, 16);
  for (let i = 0; i < ALGORITHM.length; i++) sb[32 + i] = ALGORITHM.charCodeAt(i);
  view.setUint32(64, params.dataBlockSize, true);
  view.setUint32(68, params.hashBlockSize, true);
  view.setBigUint64(72, BigInt(params.dataBlocks), true);
  view.setUint16(80, params.salt.length, true);
  sb.set(params.salt, 88);
  return sb;
}
