import { timingSafeEqual, pbkdf2Sync } from 'node:crypto';
import { checkTransfer, deviceBytes, readBytes, readBytesInto } from './io.ts';
import { afMerge, checkCipher, deriveKey, xtsSectors } from './luks2-crypto.ts';
import {
  LUKS2_BINARY_SIZE,
  LUKS2_HEADER_SIZES,
  claimedHeaderSize,
  parseHeaderCopy,
  type Luks2Header,
} from './luks2-header.ts';
import type { Luks2Digest, Luks2Keyslot, Luks2Segment } from './luks2-json.ts';
import { BlockDeviceError, FormatError, type BlockDevice } from './types.ts';

/** The passphrase or key file unlocks no keyslot. */
export class WrongKeyError extends Error {
  override readonly name = 'WrongKeyError';
}

/** Options for {@link readLuks2Header}. */
export interface Luks2HeaderOptions {
  /**
   * Accept a device where only one header copy is valid (the newer valid one is used, as cryptsetup
   * would before repairing). Default false: inside the enclave both copies must be valid and agree.
   */
  allowOneCopy?: boolean;
}

function readCopy(dev: BlockDevice, offset: number): Luks2Header {
  if (offset + LUKS2_BINARY_SIZE > deviceBytes(dev))
    throw new FormatError('LUKS2: device is too small for a header');
  const size = claimedHeaderSize(readBytes(dev, offset, LUKS2_BINARY_SIZE), offset);
  if (offset + size > deviceBytes(dev)) throw new FormatError('LUKS2: header is truncated');
  return parseHeaderCopy(readBytes(dev, offset, size), offset);
}

function attempt(f: () => Luks2Header): Luks2Header | Error {
  try {
    return f();
  } catch (e) {
    if (e instanceof FormatError || e instanceof BlockDeviceError) return e;
    throw e;
  }
}

/** Reads and validates both LUKS2 header copies (primary at 0, secondary at the header size). */
export function readLuks2Header(dev: BlockDevice, opts: Luks2HeaderOptions = {}): Luks2Header {
  const primary = attempt(() => readCopy(dev, 0));
  let secondary: Luks2Header | Error;
  if (!(primary instanceof Error)) {
    secondary = attempt(() => readCopy(dev, primary.hdrSize));
  } else {
    // Without a primary, look for the secondary at each offset LUKS2 allows, as cryptsetup does.
    secondary = primary;
    for (const offset of LUKS2_HEADER_SIZES) {
      const found = attempt(() => readCopy(dev, offset));
      if (!(found instanceof Error)) {
        secondary = found;
        break;
      }
    }
  }
  if (primary instanceof Error && secondary instanceof Error) {
    throw new FormatError(`${primary.message}; no valid secondary header either`);
  }
  if (primary instanceof Error || secondary instanceof Error) {
    const bad = primary instanceof Error ? 'primary' : 'secondary';
    const why = (primary instanceof Error ? primary : (secondary as Error)).message;
    if (!opts.allowOneCopy)
      throw new FormatError(`LUKS2: the ${bad} header copy is invalid (${why}); refusing`);
    return (primary instanceof Error ? secondary : primary) as Luks2Header;
  }
  if (
    primary.seqid !== secondary.seqid ||
    primary.json !== secondary.json ||
    primary.uuid !== secondary.uuid
  ) {
    if (!opts.allowOneCopy) throw new FormatError('LUKS2: the two header copies disagree; refusing');
    return primary.seqid >= secondary.seqid ? primary : secondary;
  }
  return primary;
}

/** Options for {@link unlockLuks2}. */
export interface Luks2UnlockOptions extends Luks2HeaderOptions {
  /** The data device when the header is detached (`--header`); default: the header device. */
  data?: BlockDevice;
  /** Refuse unless the header carries this UUID (e.g. from the measured configuration). */
  expectedUuid?: string;
  /** Refuse argon2 keyslots needing more memory than this many KiB (default 1 GiB). */
  maxArgon2MemoryKiB?: number;
  /** Told the fraction done of each keyslot's key derivation (Argon2 only). */
  onKdfProgress?: (fraction: number) => void;
}

function unlockKeyslot(
  dev: BlockDevice,
  ks: Luks2Keyslot,
  secret: Uint8Array,
  onKdfProgress?: (fraction: number) => void,
): Uint8Array {
  checkCipher(ks.area.encryption, ks.area.keySize);
  const materialSize = ks.keySize * ks.af.stripes;
  const sectors = Math.ceil(materialSize / 512);
  if (sectors * 512 > ks.area.size) throw new FormatError(`LUKS2: keyslot ${ks.id} area is too small`);
  const encrypted = readBytes(dev, ks.area.offset, sectors * 512);
  const keyslotKey = deriveKey(ks.kdf, secret, ks.area.keySize, onKdfProgress);
  // Keyslot areas are always encrypted in 512-byte sectors with IVs counted from the area's start.
  const material = xtsSectors(false, keyslotKey, 512, 0n, 1, encrypted);
  return afMerge(material, ks.keySize, ks.af.stripes, ks.af.hash);
}

function digestMatches(digest: Luks2Digest, key: Uint8Array): boolean {
  const computed = pbkdf2Sync(key, digest.salt, digest.iterations, digest.digest.length, digest.hash);
  return timingSafeEqual(computed, digest.digest);
}

/**
 * Opens a LUKS2 device: validates the header, derives each eligible keyslot's key from `secret`
 * (passphrase bytes or key-file contents), recovers the volume key and checks it against the
 * digest, and returns a device that decrypts the data segment. Throws {@link WrongKeyError} when
 * no keyslot matches.
 */
export function unlockLuks2(
  dev: BlockDevice,
  secret: Uint8Array | string,
  opts: Luks2UnlockOptions = {},
): Luks2Device {
  const header = readLuks2Header(dev, opts);
  const { metadata } = header;
  if (opts.expectedUuid !== undefined && header.uuid !== opts.expectedUuid.toLowerCase()) {
    throw new FormatError(`LUKS2: UUID ${header.uuid} is not the expected ${opts.expectedUuid}`);
  }
  const req = metadata.config.requirements[0];
  if (req !== undefined) {
    throw new FormatError(
      req.startsWith('online-reencrypt')
        ? 'LUKS2: a reencryption is in progress; finish it with cryptsetup first'
        : `LUKS2: unsupported mandatory requirement '${req}'`,
    );
  }
  if (metadata.segments.length !== 1) {
    throw new FormatError(`LUKS2: expected exactly one data segment, found ${metadata.segments.length}`);
  }
  const segment = metadata.segments[0];
  const data = opts.data ?? dev;
  if (data === dev && segment.offset < 2 * header.hdrSize + metadata.config.keyslotsSize) {
    throw new FormatError('LUKS2: data segment overlaps the header area');
  }
  const digest = metadata.digests.find((d) => d.segments.includes(segment.id));
  if (!digest) throw new FormatError('LUKS2: no digest covers the data segment');
  const maxMemory = opts.maxArgon2MemoryKiB ?? 1024 * 1024;
  const pass = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  // Priority 2 first, then 1; priority 0 slots are skipped unless named, as cryptsetup does.
  const candidates = metadata.keyslots
    .filter((ks) => ks.priority > 0 && digest.keyslots.includes(ks.id))
    .sort((a, b) => b.priority - a.priority || a.id - b.id);
  for (const ks of candidates) {
    if (ks.kdf.type !== 'pbkdf2' && ks.kdf.memory > maxMemory) {
      throw new FormatError(
        `LUKS2: keyslot ${ks.id} needs ${ks.kdf.memory} KiB of KDF memory (limit ${maxMemory})`,
      );
    }
    const key = unlockKeyslot(dev, ks, pass, opts.onKdfProgress);
    if (digestMatches(digest, key)) return new Luks2Device(data, header, segment, key);
  }
  throw new WrongKeyError('LUKS2: no keyslot matches the passphrase');
}

/**
 * The decrypted data segment (dm-crypt, aes-xts-plain64). Confidentiality only: XTS is not
 * authenticated, so integrity must come from a layer below (dm-verity over the ciphertext).
 */
export class Luks2Device implements BlockDevice {
  readonly blockSize: number;
  readonly blockCount: number;
  private readonly ivStep: number;

  constructor(
    private readonly data: BlockDevice,
    readonly header: Luks2Header,
    readonly segment: Luks2Segment,
    private readonly volumeKey: Uint8Array,
  ) {
    checkCipher(segment.encryption, volumeKey.length);
    this.blockSize = segment.sectorSize;
    this.ivStep = segment.sectorSize / 512;
    const available = deviceBytes(data) - segment.offset;
    const size = segment.size === 'dynamic' ? available - (available % segment.sectorSize) : segment.size;
    if (size <= 0 || size > available) throw new FormatError('LUKS2: the data segment is truncated');
    this.blockCount = size / segment.sectorSize;
  }

  /** Reads the ciphertext straight into `dst` and decrypts it there. */
  readInto(block: number, dst: Uint8Array): void {
    checkTransfer(this, block, dst);
    readBytesInto(this.data, this.segment.offset + block * this.blockSize, dst);
    this.decrypt(block, dst);
  }

  /** As `readInto`, with the read below started (or, if it cannot be, all of it left to the finish). */
  startReadInto(block: number, dst: Uint8Array): () => void {
    checkTransfer(this, block, dst);
    const offset = this.segment.offset + block * this.blockSize;
    const lower = this.data;
    if (!lower.startReadInto || offset % lower.blockSize !== 0) return () => this.readInto(block, dst);
    const finish = lower.startReadInto(offset / lower.blockSize, dst);
    return () => {
      finish();
      this.decrypt(block, dst);
    };
  }

  private decrypt(block: number, dst: Uint8Array): void {
    xtsSectors(false, this.volumeKey, this.blockSize, this.iv(block), this.ivStep, dst, true);
  }

  write(block: number, plaintext: Uint8Array): void {
    checkTransfer(this, block, plaintext);
    const lower = this.data;
    const offset = this.segment.offset + block * this.blockSize;
    if (!lower.write || offset % lower.blockSize !== 0 || plaintext.length % lower.blockSize !== 0) {
      throw new BlockDeviceError('LUKS2: the underlying device cannot take this write');
    }
    const ciphertext = xtsSectors(
      true,
      this.volumeKey,
      this.blockSize,
      this.iv(block),
      this.ivStep,
      plaintext,
    );
    lower.write(offset / lower.blockSize, ciphertext);
  }

  flush(): void {
    this.data.flush?.();
  }

  /** plain64 IV of a sector: counted in 512-byte units from the segment start, plus iv_tweak. */
  private iv(block: number): bigint {
    return this.segment.ivTweak + BigInt(block) * BigInt(this.ivStep);
  }
}
