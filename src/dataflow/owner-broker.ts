/**
 * The data owner's side of the key broker: the job key stored at (or read back from) a running
 * `cloister kbs serve --admin-public-key` over its admin API (`src/kbs/admin.ts`), authenticated by
 * a single-use JWT for that method, path and body, signed with the owner's Ed25519 administrator key
 * (src/interface/kbs/admin-token.ts). Runs on the owner's machine.
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ADMIN_READ_PREFIX, adminToken } from '../interface/kbs/admin-token.ts';

export class BrokerAdminError extends Error {
  override name = 'BrokerAdminError';
}

/** `repository/type/tag`, or `type/tag` in the `default` repository (as `--key jobs/wc`). */
export function resourcePath(text: string): string {
  const segment = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  const parts = text.split('/');
  if (!(parts.length === 2 || parts.length === 3) || !parts.every((p) => segment.test(p)))
    throw new BrokerAdminError(
      `${JSON.stringify(text)}: a resource is repository/type/tag or type/tag (then in repository default)`,
    );
  return parts.length === 2 ? `default/${text}` : text;
}

/** The administrator's Ed25519 private key (PEM, as `openssl genpkey -algorithm ed25519` writes it). */
export function adminKeyFrom(pem: Buffer | string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new BrokerAdminError(`not a private key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new BrokerAdminError(`an Ed25519 key is needed, not ${key.asymmetricKeyType}`);
  return key;
}

async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    const cause = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new BrokerAdminError(`key broker ${new URL(url).origin}: ${cause}`);
  }
}

async function failure(response: Response): Promise<BrokerAdminError> {
  let detail = response.statusText;
  try {
    const problem = (await response.json()) as { type?: string; detail?: string };
    detail = `${problem.type?.split(':').pop() ?? ''}: ${problem.detail ?? ''}`;
  } catch {
    // Not problem+json: the status line says enough.
  }
  return new BrokerAdminError(`key broker answered ${response.status} ${detail}`);
}

function base(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The resource's secret, or undefined when the broker has none at `path`. */
export async function readBrokerResource(
  url: string,
  path: string,
  adminKey: KeyObject,
): Promise<Buffer | undefined> {
  const token = await adminToken(adminKey, path, new Uint8Array(0), Date.now(), 'GET');
  const response = await request(`${base(url)}${ADMIN_READ_PREFIX}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw await failure(response);
  const { secret } = (await response.json()) as { secret: string };
  return Buffer.from(secret, 'base64');
}

/** Stores (or replaces) the resource at `path`, with its own release policy when given. */
export async function putBrokerResource(
  url: string,
  path: string,
  secret: Uint8Array,
  adminKey: KeyObject,
  policy?: unknown,
): Promise<void> {
  const body = JSON.stringify({
    secret: Buffer.from(secret).toString('base64'),
    ...(policy === undefined ? {} : { policy }),
  });
  const response = await request(`${base(url)}/kbs/v0/resource/${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await adminToken(adminKey, path, Buffer.from(body))}`,
      'content-type': 'application/json',
    },
    body,
  });
  if (!response.ok) throw await failure(response);
}
