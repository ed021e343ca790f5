/**
 * Sealing for JavaScript enclave applications: AES-256-GCM under a key derived (HKDF-SHA256) from
 * the platform's EGETKEY seal key, so only an enclave with the same MRENCLAVE (policy MRENCLAVE)
 * or the same signer (policy MRSIGNER) on the same platform can unseal.
 *
 * Sealed blob: version (1) || policy (1) || nonce (12) || ciphertext || tag (16). The version and
 * policy bytes are authenticated with the caller's associated data.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SEAL_POLICY } from '../../interface/platform.ts';

export class SealError extends Error {
  override name = 'SealError';
}

export type SealPolicy = keyof typeof SEAL_POLICY;

const VERSION = 1;
const NONCE = 12;
const TAG = 16;
const HEADER = 2 + NONCE;
const INFO = new TextEncoder().encode('cloister js-enclave seal v1');

/** Seal keys by policy, fetched from the platform once (EGETKEY) and kept inside the enclave. */
export class Sealer {
  private readonly keys = new Map<number, Uint8Array>();

  constructor(private readonly egetkey: (policy: 1 | 2) => Uint8Array) {}

  private key(policy: number): Uint8Array {
    let key = this.keys.get(policy);
    if (!key) {
      if (policy !== SEAL_POLICY.MRENCLAVE && policy !== SEAL_POLICY.MRSIGNER) {
        throw new SealError(`unknown seal policy ${policy}`);
      }
      key = new Uint8Array(hkdfSync('sha256', this.egetkey(policy), new Uint8Array(0), INFO, 32));
      this.keys.set(policy, key);
    }
    return key;
  }

  seal(
    plaintext: Uint8Array,
    aad: Uint8Array = new Uint8Array(0),
    policy: SealPolicy = 'MRENCLAVE',
  ): Uint8Array {
    const code = SEAL_POLICY[policy];
    if (code === undefined) throw new SealError(`unknown seal policy ${String(policy)}`);
    const header = new Uint8Array(HEADER);
    header[0] = VERSION;
    header[1] = code;
    header.set(randomBytes(NONCE), 2);
    const cipher = createCipheriv('aes-256-gcm', this.key(code), header.subarray(2));
    cipher.setAAD(concat(header.subarray(0, 2), aad));
    const body = concat(cipher.update(plaintext), cipher.final());
    return concat(header, body, cipher.getAuthTag());
  }

  unseal(sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
    if (!(sealed instanceof Uint8Array) || sealed.length < HEADER + TAG) {
      throw new SealError('not a sealed blob: too short');
    }
    if (sealed[0] !== VERSION) throw new SealError(`sealed blob of version ${sealed[0]}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key(sealed[1]), sealed.subarray(2, HEADER));
    decipher.setAAD(concat(sealed.subarray(0, 2), aad));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const body = decipher.update(sealed.subarray(HEADER, sealed.length - TAG));
    try {
      return concat(body, decipher.final());
    } catch {
      throw new SealError('unseal failed: wrong enclave, wrong associated data, or the blob was changed');
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
