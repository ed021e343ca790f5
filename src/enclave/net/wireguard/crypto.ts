/**
 * WireGuard's primitives (whitepaper §5.4): BLAKE2s HASH and keyed MAC, HMAC-BLAKE2s KDF (@noble/hashes),
 * ChaCha20-Poly1305 AEAD (node:crypto, the data path), XChaCha20-Poly1305 for cookies (HChaCha20
 * here + node:crypto's ChaCha20-Poly1305), and X25519 (node:crypto: OpenSSL's is some 30 times
 * faster than pure JavaScript, and a handshake does five).
 */
import { Buffer } from 'node:buffer';
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';

export const TAG_LEN = 16;
export const EMPTY = new Uint8Array(0);

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Keyed BLAKE2s with a 16-byte output (mac1, mac2, cookies). */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: 16 });
}

function hmacBlake2s(key: Uint8Array, input: Uint8Array): Uint8Array {
  return hmac(blake2s, key, input);
}

/** KDF_n(key, input): n 32-byte outputs of HKDF over HMAC-BLAKE2s. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const prk = hmacBlake2s(key, input);
  const out: Uint8Array[] = [];
  let prev: Uint8Array = EMPTY;
  for (let i = 1; i <= n; i++) {
    prev = hmacBlake2s(prk, concat(prev, Uint8Array.of(i)));
    out.push(prev);
  }
  return out;
}

/** The 96-bit nonce of a counter: 32 zero bits, then the 64-bit counter little-endian. */
export function counterNonce(counter: bigint | number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
  return nonce;
}

/** ChaCha20-Poly1305 with a 12-byte nonce; returns ciphertext || tag. */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  const tail = c.final();
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(c.getAuthTag(), plaintext.length);
  return out;
}

/** Opens ciphertext || tag; undefined when it does not authenticate. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < TAG_LEN) return undefined;
  const body = sealed.subarray(0, sealed.length - TAG_LEN);
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  d.setAAD(ad, { plaintextLength: body.length });
  const head = d.update(body);
  try {
    const tail = d.final();
    return tail.length ? concat(head, tail) : new Uint8Array(head.buffer, head.byteOffset, head.length);
  } catch {
    return undefined;
  }
}

function rotl(x: number, n: number): number {
  return ((x << n) | (x >>> (32 - n))) >>> 0;
}

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): a 32-byte subkey from a key and a 16-byte nonce. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  const nv = new DataView(nonce16.buffer, nonce16.byteOffset, 16);
  const s = new Uint32Array(16);
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) s[4 + i] = kv.getUint32(i * 4, true);
  for (let i = 0; i < 4; i++) s[12 + i] = nv.getUint32(i * 4, true);
  const qr = (a: number, b: number, c: number, d: number) => {
    s[a] = s[a]! + s[b]!;
    s[d] = rotl(s[d]! ^ s[a]!, 16);
    s[c] = s[c]! + s[d]!;
    s[b] = rotl(s[b]! ^ s[c]!, 12);
    s[a] = s[a]! + s[b]!;
    s[d] = rotl(s[d]! ^ s[a]!, 8);
    s[c] = s[c]! + s[d]!;
    s[b] = rotl(s[b]! ^ s[c]!, 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12);
    qr(1, 5, 9, 13);
    qr(2, 6, 10, 14);
    qr(3, 7, 11, 15);
    qr(0, 5, 10, 15);
    qr(1, 6, 11, 12);
    qr(2, 7, 8, 13);
    qr(3, 4, 9, 14);
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) ov.setUint32(i * 4, s[i]!, true);
  for (let i = 0; i < 4; i++) ov.setUint32(16 + i * 4, s[12 + i]!, true);
  return out;
}

function xNonce(key: Uint8Array, nonce24: Uint8Array): { subkey: Uint8Array; nonce: Uint8Array } {
  const nonce = new Uint8Array(12);
  nonce.set(nonce24.subarray(16, 24), 4);
  return { subkey: hchacha20(key, nonce24.subarray(0, 16)), nonce };
}

/** XChaCha20-Poly1305 with a 24-byte nonce (cookie replies). */
export function xaeadSeal(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  const { subkey, nonce } = xNonce(key, nonce24);
  return aeadSeal(subkey, nonce, plaintext, ad);
}

export function xaeadOpen(
  key: Uint8Array,
  nonce24: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  const { subkey, nonce } = xNonce(key, nonce24);
  return aeadOpen(subkey, nonce, sealed, ad);
}

// Raw X25519 keys enter OpenSSL as JWK: Node imports those with EVP_PKEY_new_raw_*_key, where DER
// goes through OpenSSL's decoders (about ten times slower). A private JWK needs an `x` member but
// Node only checks that it is a string: the public half is never computed for a DH.
function privateKeyObject(privateKey: Uint8Array): KeyObject {
  const d = Buffer.from(privateKey.buffer, privateKey.byteOffset, privateKey.length).toString('base64url');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: '' }, format: 'jwk' });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/**
 * X25519 (RFC 7748: the scalar is clamped, the top bit of u ignored); undefined when the result is
 * all zeros (a low-order point: the handshake must fail; OpenSSL refuses to derive it) or a key is
 * not 32 bytes.
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (privateKey.length !== 32 || publicKey.length !== 32) return undefined;
  let shared: Uint8Array;
  try {
    shared = diffieHellman({
      privateKey: privateKeyObject(privateKey),
      publicKey: publicKeyObject(publicKey),
    });
  } catch {
    return undefined;
  }
  return shared.some((b) => b !== 0) ? new Uint8Array(shared) : undefined;
}

/** A new private key, clamped as wg(8) clamps it. */
export function generatePrivateKey(): Uint8Array {
  const k = new Uint8Array(randomBytes(32));
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

export function publicKey(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 32) throw new Error('wireguard: a private key is 32 bytes');
  const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

/** Compares two byte strings in time independent of where they differ. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Keys as wg(8) prints them: 44 characters of base64 for 32 bytes. */
export function decodeKey(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function encodeKey(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}
