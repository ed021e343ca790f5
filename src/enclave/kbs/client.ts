/**
 * The enclave side of the KBS protocol (RCAR): make an ephemeral key pair, `auth` for a nonce,
 * `attest` with evidence whose report data binds the nonce and the public key, then fetch resources
 * as JWE and decrypt them with the private key, which never leaves this object (non-extractable).
 *
 * Runs inside the enclave: no Node I/O. HTTP goes through the `fetch` handed in (the runtime tunnels
 * it), crypto through Web Crypto and jose.
 */
import { flattenedDecrypt } from 'jose';
import type { FlattenedJWE, JWK } from 'jose';
import { runtimeDataReportData } from '../../interface/kbs/binding.ts';
import type { RuntimeData } from '../../interface/kbs/binding.ts';
import { KBS_PROTOCOL_VERSION, SESSION_COOKIE, encodeBase64 } from '../../interface/kbs/protocol.ts';
import type { AttestRequest, Challenge, Tee } from '../../interface/kbs/protocol.ts';

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
    const jwe = (await this.request(`/kbs/v0/resource/${path}`, { method: 'GET' })) as FlattenedJWE;
    const keys = this.keys;
    if (keys === undefined) throw new KbsClientError(0, 'no-key', 'attest first');
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
    return value;
  }
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
