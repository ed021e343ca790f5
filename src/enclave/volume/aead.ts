import { createCipheriv, createDecipheriv } from 'node:crypto';
import { UNIT } from './layout.ts';

export const TAG_SIZE = 16;

/**
 * Nonce = block (u32) ‖ version (u64). Versions are unique within a volume (handed out from one
 * counter whose reservations are durable before use), so no nonce repeats under a volume's key.
 */
function nonce(block: number, version: number): Uint8Array {
  const n = new Uint8Array(12);
  const v = new DataView(n.buffer);
  v.setUint32(0, block >>> 0);
  setU64(v, 4, version);
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

/** Encrypts one 4 KiB block; returns the ciphertext (same size) and the tag. */
export function sealBlock(
  key: Uint8Array,
  uuid: Uint8Array,
  block: number,
  version: number,
  plaintext: Uint8Array,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  const c = createCipheriv('aes-256-gcm', key, nonce(block, version));
  c.setAAD(aad(uuid, block, version));
  const ciphertext = c.update(plaintext);
  c.final();
  return { ciphertext, tag: c.getAuthTag() };
}

/** Decrypts and authenticates one block; null when it does not authenticate. */
export function openBlock(
  key: Uint8Array,
  uuid: Uint8Array,
  block: number,
  version: number,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | null {
  if (ciphertext.length !== UNIT) return null;
  const d = createDecipheriv('aes-256-gcm', key, nonce(block, version));
  d.setAAD(aad(uuid, block, version));
  d.setAuthTag(tag);
  const plaintext = d.update(ciphertext);
  try {
    d.final();
  } catch {
    return null;
  }
  return plaintext;
}
