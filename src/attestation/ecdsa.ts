/** Raw (r || s) ECDSA checks, the signature encoding of quotes, QE reports and collateral JSON. */
import { createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** ECDSA / SHA-256 check of a raw r || s signature; malformed input is simply "does not verify". */
export function p256Verify(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** A raw P-256 public key (x || y, 64 bytes) as a KeyObject, or undefined if it is not a curve point. */
export function rawP256Key(xy: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(xy.subarray(0, 32)).toString('base64url'),
        y: Buffer.from(xy.subarray(32, 64)).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}
