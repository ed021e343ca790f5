/**
 * Adding or replacing a resource while the broker runs: `POST /kbs/v0/resource/<repo>/<type>/<tag>`
 * (Trustee's admin endpoint for resources) authenticated by a short-lived EdDSA JWT signed with the
 * **admin key**, an Ed25519 key beside the database (`<db>.admin-key`, 0600, like the master key).
 * The token also binds the exact body (`body-sha256`) and is single use (`jti`), so a token seen on
 * the wire cannot store anything else, nor store the same thing twice.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { SignJWT, jwtVerify } from 'jose';

/** Longest lifetime of an admin token, and how far its clock may be off. */
const MAX_TOKEN_AGE_S = 120;
const CLOCK_TOLERANCE_S = 30;

export class AdminAuthError extends Error {
  override name = 'AdminAuthError';
}

/** The admin key at `path`, made (Ed25519, 0600) when missing; refused if others may read it. */
export function loadOrCreateAdminKey(path: string): KeyObject {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  return readAdminKey(path);
}

/** An existing admin key (the private half): Ed25519, not readable by group or others. */
export function readAdminKey(path: string): KeyObject {
  if (!existsSync(path)) throw new AdminAuthError(`admin key ${path}: no such file`);
  if ((statSync(path).mode & 0o077) !== 0)
    throw new AdminAuthError(`admin key ${path}: readable by others (chmod 600 it)`);
  const key = createPrivateKey(readFileSync(path));
  if (key.asymmetricKeyType !== 'ed25519') throw new AdminAuthError(`admin key ${path}: not an Ed25519 key`);
  return key;
}

const digest = (body: Uint8Array): string => createHash('sha256').update(body).digest('base64url');

/** A token allowing exactly this body to be stored at `path`, once, for the next two minutes. */
export function adminToken(
  key: KeyObject,
  path: string,
  body: Uint8Array,
  now = Date.now(),
): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ 'body-sha256': digest(body), resource: path })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + MAX_TOKEN_AGE_S)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(key);
}

/** Checks admin tokens for one server: signature, lifetime, the body and path bound, single use. */
export class AdminVerifier {
  private readonly publicKey: KeyObject;
  /** Token ids seen, with when they expire: a replay within the lifetime is refused. */
  private readonly seen = new Map<string, number>();

  constructor(
    key: KeyObject,
    private readonly now: () => number = Date.now,
  ) {
    this.publicKey = key.type === 'private' ? createPublicKey(key) : key;
  }

  async check(authorization: string | undefined, path: string, body: Uint8Array): Promise<void> {
    const bearer = /^Bearer ([A-Za-z0-9._-]{1,4096})$/.exec(authorization ?? '');
    if (!bearer) throw new AdminAuthError('an admin token (Authorization: Bearer) is required');
    let payload;
    try {
      ({ payload } = await jwtVerify(bearer[1], this.publicKey, {
        algorithms: ['EdDSA'],
        requiredClaims: ['iat', 'exp', 'jti'],
        maxTokenAge: MAX_TOKEN_AGE_S,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw new AdminAuthError(`admin token refused: ${(error as Error).message}`);
    }
    if (payload.resource !== path) throw new AdminAuthError('admin token is for another resource');
    if (payload['body-sha256'] !== digest(body)) throw new AdminAuthError('admin token is for another body');
    const nowS = this.now() / 1000;
    for (const [id, exp] of this.seen) if (exp + CLOCK_TOLERANCE_S < nowS) this.seen.delete(id);
    const jti = String(payload.jti);
    if (this.seen.has(jti)) throw new AdminAuthError('admin token already used');
    this.seen.set(jti, Number(payload.exp));
  }
}
