/**
 * The KBS protocol messages (Confidential Containers Trustee, `kbs_attestation_protocol.md`) and their
 * strict validation. No Node I/O: the enclave-side client shares these definitions.
 */
import type { JWK } from 'jose';
import type { RuntimeData } from './binding.ts';

/** The protocol version this implementation speaks. */
export const KBS_PROTOCOL_VERSION = '0.4.0';
/** The session cookie's name. */
export const SESSION_COOKIE = 'kbs-session-id';
/** The TEEs whose evidence (DCAP quotes) this KBS verifies. */
export const SUPPORTED_TEES = ['sgx', 'tdx'] as const;
export type Tee = (typeof SUPPORTED_TEES)[number];

/** `POST /kbs/v0/auth` body. */
export interface AuthRequest {
  version: string;
  tee: Tee;
  'extra-params': unknown;
}

/** `POST /kbs/v0/auth` response. */
export interface Challenge {
  nonce: string;
  'extra-params': Record<string, unknown>;
}

/** `POST /kbs/v0/attest` body: runtime data (bound by the evidence) and the evidence. */
export interface AttestRequest {
  'runtime-data': RuntimeData;
  'tee-evidence': { primary_evidence: { quote: string }; additional_evidence?: string };
}

/** Why a message was refused; the server turns it into a 400 problem. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

type Obj = Record<string, unknown>;

function object(value: unknown, what: string, allowed: string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(`${what}: expected a JSON object`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ProtocolError(`${what}: unexpected member "${key}"`);
  }
  return value as Obj;
}

function string(value: unknown, what: string, max = 4096): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new ProtocolError(`${what}: expected a non-empty string of at most ${max} characters`);
  }
  return value;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard base64, refusing anything but canonical characters and padding. */
export function decodeBase64(text: string, what: string): Uint8Array {
  if (!BASE64.test(text)) throw new ProtocolError(`${what}: not base64`);
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Encodes standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Validates an Auth request. */
export function parseAuthRequest(value: unknown): AuthRequest {
  const v = object(value, 'request', ['version', 'tee', 'extra-params']);
  const version = string(v.version, 'version', 32);
  if (!/^0\.\d{1,4}\.\d{1,4}$/.test(version)) {
    throw new ProtocolError(
      `version "${version}" is not supported (this KBS speaks ${KBS_PROTOCOL_VERSION})`,
    );
  }
  const tee = string(v.tee, 'tee', 32);
  if (!(SUPPORTED_TEES as readonly string[]).includes(tee)) {
    throw new ProtocolError(`tee "${tee}" is not supported (${SUPPORTED_TEES.join(', ')})`);
  }
  const extra = v['extra-params'];
  if (
    extra !== undefined &&
    typeof extra !== 'string' &&
    (typeof extra !== 'object' || Array.isArray(extra))
  ) {
    throw new ProtocolError('extra-params: expected an object or a string');
  }
  return { version, tee: tee as Tee, 'extra-params': extra };
}

const EC_MEMBERS = ['kty', 'crv', 'x', 'y', 'alg', 'use', 'kid'];
const RSA_MEMBERS = ['kty', 'n', 'e', 'alg', 'use', 'kid'];

/** Validates an enclave public key: EC P-256 for ECDH-ES+A256KW or RSA (2048+ bits) for RSA-OAEP-256. */
export function parseTeePubkey(value: unknown): JWK {
  const kty = (value as Obj | null)?.kty;
  if (kty === 'EC') {
    const v = object(value, 'tee-pubkey', EC_MEMBERS);
    if (v.crv !== 'P-256') throw new ProtocolError('tee-pubkey: only the P-256 curve is supported');
    for (const m of ['x', 'y']) {
      if (!BASE64URL.test(string(v[m], `tee-pubkey.${m}`, 64)))
        throw new ProtocolError(`tee-pubkey.${m}: not base64url`);
    }
    if (v.alg !== undefined && v.alg !== 'ECDH-ES+A256KW') {
      throw new ProtocolError('tee-pubkey.alg: an EC key must be for ECDH-ES+A256KW');
    }
    return v as JWK;
  }
  if (kty === 'RSA') {
    const v = object(value, 'tee-pubkey', RSA_MEMBERS);
    const n = string(v.n, 'tee-pubkey.n', 1400);
    if (!BASE64URL.test(n) || !BASE64URL.test(string(v.e, 'tee-pubkey.e', 16))) {
      throw new ProtocolError('tee-pubkey: n and e must be base64url');
    }
    if (Math.floor((n.length * 6) / 8) < 256)
      throw new ProtocolError('tee-pubkey: RSA keys need 2048 bits or more');
    if (v.alg !== undefined && v.alg !== 'RSA-OAEP-256') {
      throw new ProtocolError('tee-pubkey.alg: an RSA key must be for RSA-OAEP-256');
    }
    return v as JWK;
  }
  throw new ProtocolError('tee-pubkey: expected a public JWK with kty "EC" or "RSA"');
}

/** Validates an Attestation request; returns it with the decoded quote. */
export function parseAttestRequest(value: unknown): { request: AttestRequest; quote: Uint8Array } {
  const v = object(value, 'attestation', ['runtime-data', 'tee-evidence']);
  const rd = object(v['runtime-data'], 'runtime-data', ['nonce', 'tee-pubkey']);
  const runtimeData: RuntimeData = {
    nonce: string(rd.nonce, 'runtime-data.nonce', 256),
    'tee-pubkey': parseTeePubkey(rd['tee-pubkey']) as Record<string, unknown>,
  };
  const ev = object(v['tee-evidence'], 'tee-evidence', ['primary_evidence', 'additional_evidence']);
  const primary = object(ev.primary_evidence, 'tee-evidence.primary_evidence', ['quote']);
  const additional = ev.additional_evidence;
  if (additional !== undefined && additional !== '' && additional !== '{}') {
    throw new ProtocolError('tee-evidence.additional_evidence: additional TEEs are not supported');
  }
  const quoteText = string(primary.quote, 'tee-evidence.primary_evidence.quote', 96 * 1024);
  const quote = decodeBase64(quoteText, 'tee-evidence.primary_evidence.quote');
  return {
    request: { 'runtime-data': runtimeData, 'tee-evidence': { primary_evidence: { quote: quoteText } } },
    quote,
  };
}
