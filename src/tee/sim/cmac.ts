/**
 * AES-128-CMAC (RFC 4493), the MAC of SGX REPORTs. The CMAC mode is written out here; the AES block
 * cipher is node:crypto's (`aes-128-ecb` on single blocks), so no cipher is implemented by hand.
 */
import { createCipheriv } from 'node:crypto';

const BLOCK = 16;
/** R_128 of RFC 4493: the reduction constant for doubling in GF(2^128). */
const RB = 0x87;

function aesBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  return new Uint8Array(cipher.update(block));
}

/** Multiplication by x in GF(2^128) (RFC 4493 section 2.3). */
function double(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = ((block[i] << 1) | (i + 1 < BLOCK ? block[i + 1] >> 7 : 0)) & 0xff;
  if (block[0] & 0x80) out[BLOCK - 1] ^= RB;
  return out;
}

/** The 16-byte AES-CMAC of `message` under a 16-byte key. */
export function aesCmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (key.length !== BLOCK) throw new RangeError(`AES-128-CMAC key must be 16 bytes, got ${key.length}`);
  const k1 = double(aesBlock(key, new Uint8Array(BLOCK)));
  const k2 = double(k1);
  const blocks = Math.max(1, Math.ceil(message.length / BLOCK));
  const complete = message.length > 0 && message.length % BLOCK === 0;
  // The last block is XORed with K1 when complete, else padded with 10* and XORed with K2.
  const last = new Uint8Array(BLOCK);
  const tail = message.subarray((blocks - 1) * BLOCK);
  last.set(tail);
  if (!complete) last[tail.length] = 0x80;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < BLOCK; i++) last[i] ^= subkey[i];
  // CBC-MAC with a zero IV: the tag is the last ciphertext block.
  const cipher = createCipheriv('aes-128-cbc', key, new Uint8Array(BLOCK));
  cipher.setAutoPadding(false);
  const out = cipher.update(Buffer.concat([message.subarray(0, (blocks - 1) * BLOCK), last]));
  return new Uint8Array(out.subarray(out.length - BLOCK));
}
