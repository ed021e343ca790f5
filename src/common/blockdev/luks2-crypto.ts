import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync } from 'node:crypto';
import { argon2i, argon2id } from '@noble/hashes/argon2.js';
import { FormatError } from './types.ts';

/** Hashes LUKS2 accepts for pbkdf2, the AF diffuse function and the digest. */
export type Luks2Hash = 'sha1' | 'sha256' | 'sha512';
const DIGEST_SIZE: Record<Luks2Hash, number> = { sha1: 20, sha256: 32, sha512: 64 };

/** A keyslot KDF as stored in the JSON metadata. */
export type Luks2Kdf =
  | { type: 'pbkdf2'; hash: Luks2Hash; iterations: number; salt: Uint8Array }
  | { type: 'argon2i' | 'argon2id'; time: number; memory: number; cpus: number; salt: Uint8Array };

/**
 * Derives `length` bytes of keyslot key from the passphrase (or key-file bytes). Argon2 tells
 * `onProgress` the fraction done; PBKDF2 (node:crypto, one call) cannot report any.
 */
export function deriveKey(
  kdf: Luks2Kdf,
  secret: Uint8Array,
  length: number,
  onProgress?: (fraction: number) => void,
): Uint8Array {
  if (kdf.type === 'pbkdf2') return pbkdf2Sync(secret, kdf.salt, kdf.iterations, length, kdf.hash);
  const argon = kdf.type === 'argon2id' ? argon2id : argon2i;
  return argon(secret, kdf.salt, {
    t: kdf.time,
    m: kdf.memory,
    p: kdf.cpus,
    dkLen: length,
    version: 0x13,
    maxmem: Math.min(2 ** 32 - 1, kdf.memory * 1024 + (1 << 20)),
    onProgress,
  });
}

/**
 * cryptsetup's `diffuse`: each digest-sized piece i of `buf` becomes H(be32(i) || piece), truncated
 * to the piece's length. In place.
 */
function diffuse(buf: Uint8Array, hash: Luks2Hash): void {
  const ds = DIGEST_SIZE[hash];
  const index = new Uint8Array(4);
  for (let i = 0, at = 0; at < buf.length; i++, at += ds) {
    const len = Math.min(ds, buf.length - at);
    new DataView(index.buffer).setUint32(0, i, false);
    const h = createHash(hash)
      .update(index)
      .update(buf.subarray(at, at + len))
      .digest();
    buf.set(h.subarray(0, len), at);
  }
}

function xorInto(dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] ^= src[i];
}

/** Anti-forensic merge (cryptsetup `AF_merge`): recovers a `keySize`-byte key from `stripes` stripes. */
export function afMerge(material: Uint8Array, keySize: number, stripes: number, hash: Luks2Hash): Uint8Array {
  if (material.length < keySize * stripes) throw new FormatError('LUKS2: keyslot material is too short');
  const buf = new Uint8Array(keySize);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(buf, material.subarray(i * keySize, (i + 1) * keySize));
    diffuse(buf, hash);
  }
  xorInto(buf, material.subarray((stripes - 1) * keySize, stripes * keySize));
  return buf;
}

/** Anti-forensic split (cryptsetup `AF_split`), with `random` supplying the first stripes. */
export function afSplit(
  key: Uint8Array,
  stripes: number,
  hash: Luks2Hash,
  random: (n: number) => Uint8Array,
): Uint8Array {
  const n = key.length;
  const out = new Uint8Array(n * stripes);
  const buf = new Uint8Array(n);
  for (let i = 0; i < stripes - 1; i++) {
    const stripe = random(n);
    out.set(stripe, i * n);
    xorInto(buf, stripe);
    diffuse(buf, hash);
  }
  xorInto(buf, key);
  out.set(buf, (stripes - 1) * n);
  return out;
}

/** Throws unless `encryption` is a cipher spec this implementation supports with a key of `keySize` bytes. */
export function checkCipher(encryption: string, keySize: number): void {
  if (encryption !== 'aes-xts-plain64') {
    throw new FormatError(`LUKS2: unsupported cipher '${encryption}' (only aes-xts-plain64)`);
  }
  if (keySize !== 32 && keySize !== 64) throw new FormatError(`LUKS2: unsupported XTS key size ${keySize}`);
}

/**
 * aes-xts-plain64 over consecutive sectors, as dm-crypt does: sector k of `data` uses the IV
 * `firstIv + k * ivStep` (little-endian 64-bit, zero-padded to 16 bytes). dm-crypt counts the IV in
 * 512-byte units, so with 4096-byte sectors `ivStep` is 8.
 */
export function xtsSectors(
  encrypt: boolean,
  key: Uint8Array,
  sectorSize: number,
  firstIv: bigint,
  ivStep: number,
  data: Uint8Array,
  inPlace = false,
): Uint8Array {
  if (data.length % sectorSize !== 0) throw new FormatError('LUKS2: data is not a whole number of sectors');
  const algorithm = key.length === 64 ? 'aes-256-xts' : 'aes-128-xts';
  const iv = Buffer.alloc(16);
  // The IV's two 32-bit halves, counted in numbers: a BigInt per sector costs more than its AES.
  const first = firstIv & 0xffffffffffffffffn;
  const firstLow = Number(first & 0xffffffffn);
  const firstHigh = Number(first >> 32n);
  // In place when the caller owns `data` and no longer needs it (decrypting a read into its buffer).
  const out = inPlace ? data : new Uint8Array(data.length);
  for (let at = 0, k = 0; at < data.length; at += sectorSize, k++) {
    const low = firstLow + k * ivStep;
    const carry = Math.floor(low / 2 ** 32);
    iv.writeUInt32LE(low - carry * 2 ** 32, 0);
    iv.writeUInt32LE((firstHigh + carry) % 2 ** 32, 4);
    const c = encrypt ? createCipheriv(algorithm, key, iv) : createDecipheriv(algorithm, key, iv);
    const piece = c.update(data.subarray(at, at + sectorSize));
    out.set(piece.length === sectorSize ? piece : Buffer.concat([piece, c.final()]), at);
  }
  return out;
}
