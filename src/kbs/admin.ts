/**
 * Adding or replacing a resource while the broker runs: `POST /kbs/v0/resource/<repo>/<type>/<tag>`
 * (Trustee's admin endpoint for resources) authenticated by a short-lived EdDSA JWT signed with the
 * **admin key**, an Ed25519 key beside the database (`<db>.admin-key`, 0600, like the master key).
 * The token also binds the method, the exact body (`body-sha256`) and is single use (`jti`), so a token
 * seen on the wire cannot store anything else, nor store the same thing twice. Other administrators
 * (a data owner, `kbs serve --admin-public-key`) sign with keys of their own; the token's shape is in
 * src/interface/kbs/admin-token.ts, which their clients use too.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { PolicyFormatError, parsePolicy } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { KbsProblem } from './problem.ts';
import { MAX_TOKEN_AGE_S, bodyDigest } from '../interface/kbs/admin-token.ts';

export { ADMIN_READ_PREFIX, adminToken } from '../interface/kbs/admin-token.ts';

/** How far an admin token's clock may be off. */
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

/** Checks admin tokens for one server: signature, lifetime, the body and path bound, single use. */
export class AdminVerifier {
  private readonly publicKeys: KeyObject[];
  /** Token ids seen, with when they expire: a replay within the lifetime is refused. */
  private readonly seen = new Map<string, number>();

  /** `keys`: the broker's own admin key and any administrator public keys it was given. */
  constructor(
    keys: KeyObject | readonly KeyObject[],
    private readonly now: () => number = Date.now,
  ) {
    this.publicKeys = (Array.isArray(keys) ? keys : [keys]).map((key: KeyObject) =>
      key.type === 'private' ? createPublicKey(key) : key,
    );
  }

  async check(
    authorization: string | undefined,
    path: string,
    body: Uint8Array,
    method: 'POST' | 'GET' = 'POST',
  ): Promise<void> {
    const bearer = /^Bearer ([A-Za-z0-9._-]{1,4096})$/.exec(authorization ?? '');
    if (!bearer) throw new AdminAuthError('an admin token (Authorization: Bearer) is required');
    let payload: JWTPayload | undefined;
    let refusal = '';
    for (const key of this.publicKeys) {
      try {
        ({ payload } = await jwtVerify(bearer[1], key, {
          algorithms: ['EdDSA'],
          requiredClaims: ['iat', 'exp', 'jti'],
          maxTokenAge: MAX_TOKEN_AGE_S,
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: new Date(this.now()),
        }));
        break;
      } catch (error) {
        refusal = (error as Error).message;
      }
    }
    if (payload === undefined) throw new AdminAuthError(`admin token refused: ${refusal}`);
    if ((payload.method ?? 'POST') !== method)
      throw new AdminAuthError(`admin token is for ${String(payload.method)}, not ${method}`);
    if (payload.resource !== path) throw new AdminAuthError('admin token is for another resource');
    if (payload['body-sha256'] !== bodyDigest(body))
      throw new AdminAuthError('admin token is for another body');
    const nowS = this.now() / 1000;
    for (const [id, exp] of this.seen) if (exp + CLOCK_TOLERANCE_S < nowS) this.seen.delete(id);
    const jti = String(payload.jti);
    if (this.seen.has(jti)) throw new AdminAuthError('admin token already used');
    this.seen.set(jti, Number(payload.exp));
  }
}

/** Largest secret an administrator may store (a disk key is 32 bytes). */
const MAX_SECRET_BYTES = 64 * 1024;

/** The secret and policy of a set-resource body: raw bytes (Trustee) or Cloister's JSON. */
export function parseSetBody(contentType: string, body: Buffer): { secret: Buffer; policy?: Policy } {
  let secret: Buffer;
  let policy: Policy | undefined;
  if (/^application\/octet-stream\s*$/i.test(contentType)) {
    secret = body;
  } else if (/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(contentType)) {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (error) {
      throw new KbsProblem(400, 'bad-request', `the body is not JSON: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new KbsProblem(400, 'bad-request', 'the body must be {"secret": base64, "policy"?: {...}}');
    const { secret: text, policy: rule, ...rest } = value as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new KbsProblem(400, 'bad-request', `unknown member ${extra[0]}`);
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
      throw new KbsProblem(400, 'bad-request', 'secret: base64 text');
    secret = Buffer.from(text, 'base64');
    if (rule !== undefined) {
      try {
        policy = parsePolicy(rule);
      } catch (error) {
        if (error instanceof PolicyFormatError)
          throw new KbsProblem(400, 'bad-request', `policy: ${error.message}`);
        throw error;
      }
    }
  } else {
    throw new KbsProblem(
      415,
      'content-type',
      'the body must be application/octet-stream or application/json',
    );
  }
  if (secret.length === 0) throw new KbsProblem(400, 'bad-request', 'the secret is empty');
  if (secret.length > MAX_SECRET_BYTES)
    throw new KbsProblem(413, 'too-large', `the secret exceeds ${MAX_SECRET_BYTES} bytes`);
  return { secret, policy };
}
