/**
 * The key broker's admin token, as both sides make and read it: an EdDSA JWT (Ed25519) for one
 * method, one resource path and exactly one body (`body-sha256`), single use (`jti`), valid for two
 * minutes. The broker checks it in src/kbs/admin.ts; `kbs put` and a data owner's `data seal --kbs`
 * make it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { SignJWT, base64url } from 'jose';

/** Where an administrator reads a stored secret back (`GET`); stores are `POST /kbs/v0/resource/`. */
export const ADMIN_READ_PREFIX = '/kbs/v0/admin/resource/';

/** Longest lifetime of an admin token. */
export const MAX_TOKEN_AGE_S = 120;

/** An Ed25519 private key, as jose signs with (a node:crypto KeyObject on the host). */
type SigningKey = Parameters<SignJWT['sign']>[0];

export const bodyDigest = (body: Uint8Array): string => base64url.encode(sha256(body));

/**
 * A token allowing exactly this body to be stored at `path` (or, for GET, the resource at `path` to be
 * read back by its administrator), once, for the next two minutes.
 */
export function adminToken(
  key: SigningKey,
  path: string,
  body: Uint8Array,
  now = Date.now(),
  method: 'POST' | 'GET' = 'POST',
): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ 'body-sha256': bodyDigest(body), resource: path, method })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + MAX_TOKEN_AGE_S)
    .setJti(base64url.encode(crypto.getRandomValues(new Uint8Array(16))))
    .sign(key);
}
