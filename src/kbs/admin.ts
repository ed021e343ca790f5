/**
 * The broker's administrator side, over HTTP: a resource's owner stores a secret (and its release
 * policy) on a running broker, and reads it back, authenticated by a bearer JWT signed with the
 * administrator's Ed25519 key — as Trustee's `kbs-client config --auth-private-key K set-resource`
 * (`POST /kbs/v0/resource/<path>`, the raw secret as the body). Cloister's extensions: a JSON body
 * `{"secret": base64, "policy": {...}}` that sets both at once, and `GET /kbs/v0/admin/resource/<path>`
 * which answers `{"secret": base64}`. Without an administrator key the broker has no admin API.
 */
import type { IncomingMessage } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import { PolicyFormatError, parsePolicy } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { KbsProblem } from './problem.ts';
import { isResourcePath } from './store.ts';
import type { KbsStore } from './store.ts';

export const ADMIN_READ_PREFIX = '/kbs/v0/admin/resource/';
/** Largest secret (and request body) an administrator may store. */
const MAX_SECRET_BYTES = 64 * 1024;
/** Longest an admin token may be valid for, whatever its `exp` says (Trustee's tokens live 2 h). */
const MAX_TOKEN_AGE = '2h';

/** Whom the audit row names for an admin request. */
interface AdminRequester {
  client: string | null;
}

export class AdminApi {
  constructor(
    private readonly store: KbsStore,
    private readonly adminKey: KeyObject | undefined,
    private readonly log?: (line: string) => void,
  ) {}

  /** `POST /kbs/v0/resource/<path>`: stores (or replaces) the resource. */
  async setResource(req: IncomingMessage, path: string, who: AdminRequester): Promise<unknown> {
    // Without an administrator a resource is only ever read (Trustee's KBS answers the same).
    if (this.adminKey === undefined)
      throw new KbsProblem(405, 'method', 'POST is not allowed here (the broker has no --admin-public-key)');
    await this.authorize(req);
    if (!isResourcePath(path)) throw new KbsProblem(404, 'no-resource', `not a resource path: ${path}`);
    const { secret, policy } = parseSetBody(req.headers['content-type'] ?? '', await readBody(req));
    this.store.put(path, secret, policy);
    // The audit table records releases and refusals (its schema allows no other event); a put is logged.
    this.log?.(
      `put ${path} by the administrator from ${who.client ?? 'unknown'} (${secret.length} bytes${policy === undefined ? '' : ', with its own policy'})`,
    );
    return { resource: path, bytes: secret.length, policy: policy !== undefined };
  }

  /** `GET /kbs/v0/admin/resource/<path>`: the stored secret, to the administrator. */
  async readResource(req: IncomingMessage, path: string, who: AdminRequester): Promise<unknown> {
    if (req.method !== 'GET') throw new KbsProblem(405, 'method', `${req.method} is not allowed here`);
    await this.authorize(req);
    const entry = isResourcePath(path) ? this.store.get(path) : undefined;
    if (entry === undefined) throw new KbsProblem(404, 'no-resource', `no resource ${path}`);
    this.store.audit({
      event: 'release',
      resource: path,
      session: null,
      client: who.client,
      mrenclave: null,
      reason: 'admin read',
    });
    this.log?.(`release ${path} to the administrator`);
    return { secret: Buffer.from(entry.secret).toString('base64') };
  }

  private async authorize(req: IncomingMessage): Promise<void> {
    if (this.adminKey === undefined)
      throw new KbsProblem(
        401,
        'admin-disabled',
        'this broker has no administrator key (--admin-public-key)',
      );
    const header = req.headers.authorization ?? '';
    const token = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(header)?.[1];
    if (token === undefined)
      throw new KbsProblem(401, 'admin-token', 'an administrator bearer token is needed');
    try {
      await jwtVerify(token, this.adminKey, {
        algorithms: ['EdDSA', 'Ed25519'],
        requiredClaims: ['iat', 'exp'],
        maxTokenAge: MAX_TOKEN_AGE,
      });
    } catch (error) {
      throw new KbsProblem(401, 'admin-token', `the administrator token: ${(error as Error).message}`);
    }
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_SECRET_BYTES * 2)
    throw new KbsProblem(413, 'too-large', `the body exceeds ${MAX_SECRET_BYTES * 2} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_BYTES * 2)
      throw new KbsProblem(413, 'too-large', `the body exceeds ${MAX_SECRET_BYTES * 2} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

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
