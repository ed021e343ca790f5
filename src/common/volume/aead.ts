import { createCipheriv, createDecipheriv } from 'node:crypto';
import { UNIT } from './layout.ts';

export const TAG_SIZE = 16;
/** Random bytes drawn per mounted session and stored with each block's version and tag. */
export const SALT_SIZE = 5;

/**
 * Nonce = session salt (5 bytes) ‖ version (7 bytes, big-endian; versions stay below 2^53).
 * Versions alone are unique within a volume (one counter whose reservations are durable before use),
 * so no nonce repeats under a volume's key. The salt is defence in depth: should the host roll the
 * whole volume back unnoticed (no trusted counter) and so make versions recur, a nonce still only
 * repeats if two sessions drew the same 40-bit salt.
 */
function nonce(salt: Uint8Array, version: number): Uint8Array {
  const n = new Uint8Array(12);
  setU64(new DataView(n.buffer), 4, version);
  n.set(salt, 0); // byte 4 is the version's top byte, always 0
  return n;
}

/** Big-endian u64 of a safe integer, without BigInt (this is on every block's path). */
function setU64(v: DataView, offset: number, n: number): void {
  v.setUint32(offset, Math.floor(n / 2 ** 32));
  v.setUint32(offset + 4, n >>> 0);
}

/** Associated data: the volume UUID, the logical block and its version. */
function aad(uuid: Uint8Array, block: number, version: number): Uint8Array {
  const a = new Uint8Array(32);
  a.set(uuid, 0);
  const v = new DataView(a.buffer);
  setU64(v, 16, block);
  setU64(v, 24, version);
  return a;
}

/** Where a block version sits and how it was sealed: AEAD inputs besides the key and the data. */
export interface BlockBinding {
  uuid: Uint8Array;
  block: number;
  version: number;
  salt: Uint8Array;
}

/** Encrypts one 4 KiB block; returns the ciphertext (same size) and the tag. */
export function sealBlock(
  key: Uint8Array,
  { uuid, block, version, salt }: BlockBinding,
  plaintext: Uint8Array,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  const c = createCipheriv('aes-256-gcm', key, nonce(salt, version));
  c.setAAD(aad(uuid, block, version));
  const ciphertext = c.update(plaintext);
  c.final();
  return { ciphertext, tag: c.getAuthTag() };
}

/** Decrypts and authenticates one block; null when it does not authenticate. */
export function openBlock(
  key: Uint8Array,
  { uuid, block, version, salt }: BlockBinding,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | null {
  if (ciphertext.length !== UNIT) return null;
  const d = createDecipheriv('aes-256-gcm', key, nonce(salt, version));
  d.setAAD(aad(uuid, block, version));
  d.setAuthTag(tag);
  const plaintext = d.update(ciphertext);
  try {
    d.final();
  } catch {
    return null;
  }
  // A plain Uint8Array that owns its memory: a view when the Buffer has its own, else a copy.
  const own = plaintext.byteOffset === 0 && plaintext.buffer.byteLength === UNIT;
  return own ? new Uint8Array(plaintext.buffer) : new Uint8Array(plaintext);
}
