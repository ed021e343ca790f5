import { Buffer } from 'node:buffer';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import {
  afSplit,
  checkCipher,
  deriveKey,
  xtsSectors,
  type Luks2Kdf,
} from '../common/blockdev/luks2-crypto.ts';
import {
  HDR,
  LUKS2_BINARY_SIZE,
  LUKS2_MAGIC_PRIMARY,
  LUKS2_MAGIC_SECONDARY,
  luks2Checksum,
} from '../common/blockdev/luks2-header.ts';

const HDR_SIZE = 16384;
const STRIPES = 4000;

/** Options for {@link formatLuks2}. Everything random can be pinned for reproducible images. */
export interface Luks2FormatOptions {
  /** Passphrase or key-file bytes for keyslot 0. */
  secret: Uint8Array | string;
  /** Keyslot KDF; default argon2id, time 4, 64 MiB, 1 lane. */
  kdf?:
    | { type: 'pbkdf2'; iterations?: number }
    | { type: 'argon2id'; time?: number; memory?: number; cpus?: number };
  /** Data sector size, 512 or 4096 (default 4096). */
  sectorSize?: 512 | 4096;
  /** Volume key bytes: 64 (aes-256-xts, default) or 32 (aes-128-xts). */
  keySize?: 32 | 64;
  /** Use this volume key instead of a random one. */
  volumeKey?: Uint8Array;
  /** Header UUID (default random v4). */
  uuid?: string;
  label?: string;
  /** Byte offset of the data segment; default 16 MiB as cryptsetup, at least 1 MiB. */
  dataOffset?: number;
  /** Iterations of the volume-key digest (default 1000, the LUKS2 minimum: the key itself is random). */
  digestIterations?: number;
  /** Source of every random byte (salts, AF stripes, keys); default `crypto.randomBytes`. */
  random?: (n: number) => Uint8Array;
}

/** A formatted header area plus what is needed to encrypt the payload. */
export interface Luks2Formatted {
  /** Everything before the data segment: both header copies and the keyslot area. */
  metadata: Uint8Array;
  uuid: string;
  volumeKey: Uint8Array;
  dataOffset: number;
  sectorSize: number;
}

function randomUuid(random: (n: number) => Uint8Array): string {
  const b = Buffer.from(random(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function putString(buf: Uint8Array, at: number, size: number, text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length >= size) throw new Error(`'${text}' is too long for a ${size}-byte header field`);
  buf.set(bytes, at);
}

/** One header copy: binary header, JSON area, checksum. */
function headerCopy(offset: number, json: string, uuid: string, label: string, salt: Uint8Array): Uint8Array {
  const copy = new Uint8Array(HDR_SIZE);
  const view = new DataView(copy.buffer);
  copy.set(offset === 0 ? LUKS2_MAGIC_PRIMARY : LUKS2_MAGIC_SECONDARY, HDR.magic);
  view.setUint16(HDR.version, 2, false);
  view.setBigUint64(HDR.hdrSize, BigInt(HDR_SIZE), false);
  view.setBigUint64(HDR.seqid, 1n, false);
  putString(copy, HDR.label, 48, label);
  putString(copy, HDR.checksumAlg, 32, 'sha256');
  copy.set(salt, HDR.salt);
  putString(copy, HDR.uuid, 40, uuid);
  view.setBigUint64(HDR.hdrOffset, BigInt(offset), false);
  const text = Buffer.from(json, 'utf8');
  if (text.length >= HDR_SIZE - LUKS2_BINARY_SIZE) throw new Error('LUKS2 JSON metadata is too large');
  copy.set(text, LUKS2_BINARY_SIZE);
  copy.set(luks2Checksum(copy), HDR.csum);
  return copy;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/**
 * Builds a LUKS2 header area with one keyslot (as `cryptsetup luksFormat --type luks2`): 16 KiB
 * header copies at 0 and 16 KiB, the keyslot's AF-split volume key at 32 KiB encrypted with
 * aes-xts-plain64 under the KDF's key, and one dynamic-size crypt segment at `dataOffset`.
 */
export function formatLuks2(opts: Luks2FormatOptions): Luks2Formatted {
  const random = opts.random ?? ((n: number) => randomBytes(n));
  const keySize = opts.keySize ?? 64;
  const sectorSize = opts.sectorSize ?? 4096;
  const dataOffset = opts.dataOffset ?? 16 << 20;
  const volumeKey = opts.volumeKey ?? random(keySize);
  checkCipher('aes-xts-plain64', volumeKey.length);
  const areaOffset = 2 * HDR_SIZE;
  const areaSize = Math.ceil((volumeKey.length * STRIPES) / 4096) * 4096;
  if (dataOffset < 1 << 20 || dataOffset % 4096 !== 0 || dataOffset < areaOffset + areaSize) {
    throw new Error(`LUKS2 data offset ${dataOffset} must be a 4096-aligned value of at least 1 MiB`);
  }
  const uuid = opts.uuid ?? randomUuid(random);
  const secret = typeof opts.secret === 'string' ? Buffer.from(opts.secret, 'utf8') : opts.secret;

  const k = opts.kdf ?? { type: 'argon2id' };
  const kdf: Luks2Kdf =
    k.type === 'pbkdf2'
      ? { type: 'pbkdf2', hash: 'sha256', iterations: k.iterations ?? 1000, salt: random(32) }
      : {
          type: 'argon2id',
          time: k.time ?? 4,
          memory: k.memory ?? 65536,
          cpus: k.cpus ?? 1,
          salt: random(32),
        };
  const material = afSplit(volumeKey, STRIPES, 'sha256', random);
  const padded = new Uint8Array(Math.ceil(material.length / 512) * 512);
  padded.set(material);
  const keyslotKey = deriveKey(kdf, secret, volumeKey.length);
  const encryptedMaterial = xtsSectors(true, keyslotKey, 512, 0n, 1, padded);

  const digestSalt = random(32);
  const digestIterations = opts.digestIterations ?? 1000;
  const digest = pbkdf2Sync(volumeKey, digestSalt, digestIterations, 32, 'sha256');
  const { salt: kdfSalt, ...kdfRest } = kdf;
  const json = JSON.stringify({
    keyslots: {
      '0': {
        type: 'luks2',
        key_size: volumeKey.length,
        af: { type: 'luks1', stripes: STRIPES, hash: 'sha256' },
        area: {
          type: 'raw',
          offset: String(areaOffset),
          size: String(areaSize),
          encryption: 'aes-xts-plain64',
          key_size: volumeKey.length,
        },
        kdf: { ...kdfRest, salt: b64(kdfSalt) },
      },
    },
    tokens: {},
    segments: {
      '0': {
        type: 'crypt',
        offset: String(dataOffset),
        size: 'dynamic',
        iv_tweak: '0',
        encryption: 'aes-xts-plain64',
        sector_size: sectorSize,
      },
    },
    digests: {
      '0': {
        type: 'pbkdf2',
        keyslots: ['0'],
        segments: ['0'],
        hash: 'sha256',
        iterations: digestIterations,
        salt: b64(digestSalt),
        digest: b64(digest),
      },
    },
    config: {
      json_size: String(HDR_SIZE - LUKS2_BINARY_SIZE),
      keyslots_size: String(dataOffset - areaOffset),
    },
  });

  const metadata = new Uint8Array(dataOffset);
  const label = opts.label ?? '';
  metadata.set(headerCopy(0, json, uuid, label, random(64)), 0);
  metadata.set(headerCopy(HDR_SIZE, json, uuid, label, random(64)), HDR_SIZE);
  metadata.set(encryptedMaterial, areaOffset);
  return { metadata, uuid, volumeKey, dataOffset, sectorSize };
}

/** Encrypts whole sectors of payload starting at data sector `firstSector` of a formatted volume. */
export function encryptLuks2Payload(
  f: Luks2Formatted,
  firstSector: number,
  plaintext: Uint8Array,
): Uint8Array {
  const step = f.sectorSize / 512;
  return xtsSectors(true, f.volumeKey, f.sectorSize, BigInt(firstSector * step), step, plaintext);
}

/**
 * Writes `outPath` as a LUKS2 container holding the contents of `inPath` (padded with zeros to a
 * whole sector). Returns the header facts (UUID, volume key — keep it secret).
 */
export function writeLuks2File(inPath: string, outPath: string, opts: Luks2FormatOptions): Luks2Formatted {
  const f = formatLuks2(opts);
  const input = openSync(inPath, 'r');
  const out = openSync(outPath, 'w');
  try {
    writeSync(out, f.metadata, 0, f.metadata.length, 0);
    const chunk = new Uint8Array(1 << 20);
    for (let offset = 0; ;) {
      const n = readSync(input, chunk, 0, chunk.length, offset);
      if (n === 0) break;
      const whole = Math.ceil(n / f.sectorSize) * f.sectorSize;
      chunk.fill(0, n, whole);
      const ciphertext = encryptLuks2Payload(f, offset / f.sectorSize, chunk.subarray(0, whole));
      writeSync(out, ciphertext, 0, whole, f.dataOffset + offset);
      offset += n;
      if (n % f.sectorSize !== 0) break;
    }
  } finally {
    closeSync(input);
    closeSync(out);
  }
  return f;
}
