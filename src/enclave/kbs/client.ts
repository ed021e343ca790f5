/**
 * The enclave side of the KBS protocol (RCAR): make an ephemeral key pair, `auth` for a nonce,
 * `attest` with evidence whose report data binds the nonce and the public key, then fetch resources
 * as JWE and decrypt them with the private key, which never leaves this object (non-extractable).
 *
 * Runs inside the enclave: no Node I/O. HTTP goes through the `fetch` handed in (the runtime tunnels
 * it), crypto through Web Crypto and jose.
 */
import { calculateJwkThumbprint, flattenedDecrypt } from 'jose';
import type { FlattenedJWE, JWK } from 'jose';
import { runtimeDataReportData } from '../../interface/kbs/binding.ts';
import type { RuntimeData } from '../../interface/kbs/binding.ts';
import { KBS_PROTOCOL_VERSION, SESSION_COOKIE, encodeBase64 } from '../../interface/kbs/protocol.ts';
import type { AttestRequest, Challenge, Tee } from '../../interface/kbs/protocol.ts';
import {
  RELEASE_JWS_TYPE,
  RELEASE_SIGNATURE_HEADER,
  type ReleaseClaims,
} from '../../interface/kbs/release.ts';

/** The subset of `fetch` the client needs. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** Produces evidence (a DCAP quote) whose 64-byte report data is `reportData`. */
export type EvidenceSource = (reportData: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Options of `KbsClient`. */
export interface KbsClientOptions {
  /** KBS base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  fetch: Fetch;
  evidence: EvidenceSource;
  /** Default `sgx`. */
  tee?: Tee;
  /** Ephemeral key type: EC P-256 (ECDH-ES+A256KW, default) or RSA-3072 (RSA-OAEP-256). */
  keyType?: 'EC' | 'RSA';
  /**
   * The broker key (public P-256 JWK) pinned in the measured configuration: every released secret
   * must then carry the broker's signature (release.ts), else it is refused.
   */
  brokerKey?: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

/** A refusal from the KBS, with its RFC 7807 problem. */
export class KbsClientError extends Error {
  override name = 'KbsClientError';
  constructor(
    readonly status: number,
    /** The problem type's code (`nonce-expired`, `policy-refused`, ...), or `http` if none. */
    readonly code: string,
    detail: string,
  ) {
    super(`KBS ${status} ${code}: ${detail}`);
  }
}

const MAX_RESPONSE = 1024 * 1024;

/** One enclave's KBS session. */
export class KbsClient {
  private cookie: string | undefined;
  private token: string | undefined;
  private keys: { privateKey: CryptoKey; jwk: JWK } | undefined;

  constructor(private readonly options: KbsClientOptions) {}

  /** The attestation token of the last successful `attest`. */
  get attestationToken(): string | undefined {
    return this.token;
  }

  /** Runs auth + attest with a fresh key pair; afterwards resources can be fetched. */
  async attest(): Promise<void> {
    this.cookie = undefined;
    this.token = undefined;
    const tee = this.options.tee ?? 'sgx';
    const challenge = (await this.post('/kbs/v0/auth', {
      version: KBS_PROTOCOL_VERSION,
      tee,
      'extra-params': {},
    })) as Challenge;
    if (typeof challenge?.nonce !== 'string') throw new KbsClientError(200, 'bad-challenge', 'no nonce');
    this.keys = await generateTeeKey(this.options.keyType ?? 'EC');
    const runtimeData: RuntimeData = {
      nonce: challenge.nonce,
      'tee-pubkey': this.keys.jwk as Record<string, unknown>,
    };
    const quote = await this.options.evidence(runtimeDataReportData(runtimeData));
    const body: AttestRequest = {
      'runtime-data': runtimeData,
      'tee-evidence': { primary_evidence: { quote: encodeBase64(quote) }, additional_evidence: '' },
    };
    const result = (await this.post('/kbs/v0/attest', body)) as { token?: unknown };
    if (typeof result?.token === 'string') this.token = result.token;
  }

  /**
   * Fetches and decrypts `repo/type/tag`; attests first when there is no session yet, and once more
   * if the session expired.
   */
  async getResource(path: string): Promise<Uint8Array> {
    if (this.keys === undefined || this.cookie === undefined) await this.attest();
    try {
      return await this.fetchResource(path);
    } catch (error) {
      if (!(error instanceof KbsClientError) || error.status !== 401) throw error;
      await this.attest();
      return this.fetchResource(path);
    }
  }

  private async fetchResource(path: string): Promise<Uint8Array> {
    const reply = await this.exchange(`/kbs/v0/resource/${path}`, { method: 'GET' });
    const jwe = reply.value as FlattenedJWE;
    const keys = this.keys;
    if (keys === undefined) throw new KbsClientError(0, 'no-key', 'attest first');
    if (this.options.brokerKey !== undefined)
      await checkReleaseSignature(reply, path, keys.jwk, this.options.brokerKey);
    const alg = keys.jwk.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
    const { plaintext } = await flattenedDecrypt(jwe, keys.privateKey, {
      keyManagementAlgorithms: [alg],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    return plaintext;
  }

  private post(path: string, body: unknown): Promise<unknown> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    return (await this.exchange(path, init)).value;
  }

  /** One request: its parsed JSON answer, with the response's text and headers. */
  private async exchange(path: string, init: RequestInit): Promise<Reply> {
    const headers = new Headers(init.headers);
    if (this.cookie !== undefined) headers.set('cookie', `${SESSION_COOKIE}=${this.cookie}`);
    const response = await this.options.fetch(new URL(path, this.options.url).toString(), {
      ...init,
      headers,
    });
    const cookie = new RegExp(`(?:^|[,;]\\s*)${SESSION_COOKIE}=([A-Za-z0-9_-]+)`).exec(
      response.headers.get('set-cookie') ?? '',
    );
    if (cookie) this.cookie = cookie[1];
    const text = await response.text();
    if (text.length > MAX_RESPONSE)
      throw new KbsClientError(response.status, 'too-large', 'response too large');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const shown = text.slice(0, 200).replace(/[^\x20-\x7e]/g, '?');
      throw new KbsClientError(
        response.status,
        'not-kbs',
        `the server at ${this.options.url} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}, not a key broker reply: ${shown}`,
      );
    }
    if (!response.ok) {
      const p = value as { type?: unknown; detail?: unknown };
      const code = typeof p?.type === 'string' ? p.type.replace(/^urn:cloister:kbs:/, '') : 'http';
      throw new KbsClientError(
        response.status,
        code,
        typeof p?.detail === 'string' ? p.detail : text.slice(0, 200),
      );
    }
    return { value, text, headers: response.headers };
  }
}

interface Reply {
  value: unknown;
  text: string;
  headers: Headers;
}

const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

function fromB64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    // Canonical only: one text per signature.
    return b64url(bytes) === text ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The broker's signature over this release (release.ts): by the pinned key, for this resource, this
 * exact body and this enclave's key. Anything else — no signature, another key, a signature lifted
 * from another release — is refused: the relay that carries the answer could have made the JWE.
 */
async function checkReleaseSignature(
  reply: Reply,
  path: string,
  teeKey: JWK,
  brokerKey: NonNullable<KbsClientOptions['brokerKey']>,
): Promise<void> {
  const refuse = (why: string): never => {
    throw new KbsClientError(
      200,
      'release-unsigned',
      `${path}: ${why}; refused (the pinned broker key signs every release)`,
    );
  };
  const jws = reply.headers.get(RELEASE_SIGNATURE_HEADER) ?? refuse('no broker signature');
  const parts = jws.length <= 4096 ? jws.split('.') : [];
  const decoded = parts.map(fromB64url);
  if (decoded.length !== 3 || decoded.some((d) => d === undefined))
    refuse('the broker signature is malformed');
  const [head, payload, signature] = decoded as Uint8Array<ArrayBuffer>[];
  let header: { alg?: unknown; typ?: unknown; crit?: unknown };
  let claims: Partial<ReleaseClaims>;
  try {
    header = JSON.parse(new TextDecoder().decode(head)) as typeof header;
    claims = JSON.parse(new TextDecoder().decode(payload)) as Partial<ReleaseClaims>;
  } catch {
    return refuse('the broker signature is malformed');
  }
  if (header?.alg !== 'ES256' || header.typ !== RELEASE_JWS_TYPE || header.crit !== undefined)
    refuse('not a release signature');
  const key = await crypto.subtle.importKey(
    'jwk',
    { kty: 'EC', crv: 'P-256', x: brokerKey.x, y: brokerKey.y },
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['verify'],
  );
  const signed = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-256' },
    key,
    signature,
    new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
  );
  if (!signed) refuse('the signature is not the pinned broker key’s');
  if (claims?.typ !== RELEASE_JWS_TYPE || claims.resource !== path)
    refuse('the signature is for another resource');
  const digest = b64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(reply.text))),
  );
  if (claims['jwe-sha256'] !== digest) refuse('the signature is for another answer');
  if (claims['tee-key'] !== (await calculateJwkThumbprint(teeKey)))
    refuse('the signature is for another enclave key');
}

/** An ephemeral key pair whose private half cannot be exported, and its public JWK. */
async function generateTeeKey(type: 'EC' | 'RSA'): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const pair = (await crypto.subtle.generateKey(
    type === 'EC'
      ? { name: 'ECDH', namedCurve: 'P-256' }
      : { name: 'RSA-OAEP', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    false,
    type === 'EC' ? ['deriveBits'] : ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  )) as CryptoKeyPair;
  const full = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const jwk: JWK =
    type === 'EC'
      ? { kty: 'EC', crv: full.crv, x: full.x, y: full.y, alg: 'ECDH-ES+A256KW' }
      : { kty: 'RSA', n: full.n, e: full.e, alg: 'RSA-OAEP-256' };
  return { privateKey: pair.privateKey, jwk };
}

/** One-shot: attest to the KBS at `options.url` and return the decrypted resource `path`. */
export function fetchKbsResource(options: KbsClientOptions, path: string): Promise<Uint8Array> {
  return new KbsClient(options).getResource(path);
}
