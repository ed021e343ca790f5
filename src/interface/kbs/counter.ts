/**
 * Volume generation counters at the key broker (a Cloister extension of the KBS protocol): an attested
 * session asks `POST /kbs/v0/volume-counter` for the generation recorded for one of its volumes, or
 * advances it; the broker answers with a JWS (ES256, its long-lived broker key) over the volume, the
 * enclave identity, the generation and the enclave's fresh nonce. The reply travels through the
 * untrusted host, so only the signature and the nonce make it trustworthy. Shared by both sides:
 * no Node I/O.
 */
import { ProtocolError } from './protocol.ts';

/** The endpoint. */
export const COUNTER_PATH = '/kbs/v0/volume-counter';
/** The JWS `typ` of a counter reply: a signature meant for nothing else. */
export const COUNTER_JWS_TYPE = 'cloister-volume-counter+jws';

/** The request body. Without `generation` it reads the counter; with it, it advances it. */
export interface CounterRequest {
  /** The volume UUID, 32 lowercase hex digits. */
  volume: string;
  /** The enclave's fresh nonce (base64url, 16 to 64 bytes): the reply must echo it. */
  nonce: string;
  /** Advance the counter to this generation (never lower: the broker refuses a decrease). */
  generation?: number;
}

/** What the broker signs. `generation` 0 means nothing is recorded yet. */
export interface CounterClaims {
  typ: typeof COUNTER_JWS_TYPE;
  volume: string;
  identity: string;
  generation: number;
  nonce: string;
}

const VOLUME = /^[0-9a-f]{32}$/;
const NONCE = /^[A-Za-z0-9_-]{22,86}$/;

function exactKeys(
  value: unknown,
  what: string,
  required: string[],
  optional: string[] = [],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ProtocolError(`${what}: expected a JSON object`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v))
    if (!required.includes(key) && !optional.includes(key))
      throw new ProtocolError(`${what}: unexpected member ${JSON.stringify(key.slice(0, 64))}`);
  for (const key of required) if (!(key in v)) throw new ProtocolError(`${what}: missing "${key}"`);
  return v;
}

function generationOf(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ProtocolError(`${what}: expected a non-negative safe integer`);
  return value;
}

function matching(value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new ProtocolError(`${what}: malformed`);
  return value;
}

/** Validates a counter request. */
export function parseCounterRequest(value: unknown): CounterRequest {
  const v = exactKeys(value, 'counter request', ['volume', 'nonce'], ['generation']);
  return {
    volume: matching(v.volume, VOLUME, 'volume'),
    nonce: matching(v.nonce, NONCE, 'nonce'),
    ...(v.generation !== undefined && { generation: generationOf(v.generation, 'generation') }),
  };
}

/** Validates the claims of a counter reply (the signature is checked before this). */
export function parseCounterClaims(value: unknown): CounterClaims {
  const v = exactKeys(value, 'counter reply', ['typ', 'volume', 'identity', 'generation', 'nonce']);
  if (v.typ !== COUNTER_JWS_TYPE) throw new ProtocolError('counter reply: not a counter reply');
  return {
    typ: COUNTER_JWS_TYPE,
    volume: matching(v.volume, VOLUME, 'volume'),
    identity: matching(v.identity, /^[a-z]+:[0-9a-f:]{1,200}$/, 'identity'),
    generation: generationOf(v.generation, 'generation'),
    nonce: matching(v.nonce, NONCE, 'nonce'),
  };
}

/** The attested facts a counter identity is made of (KBS claims, or the enclave's own REPORT). */
export interface IdentityFields {
  tee: 'sgx' | 'tdx';
  /** MRSIGNER, hex (SGX). */
  mrsigner: string;
  isvprodid: number;
  /** MRENCLAVE (SGX) or MRTD (TDX), hex. */
  mrenclave: string;
}

/**
 * Whose counters these are. SGX: the signer and product (`sgx:MRSIGNER:ISVPRODID`), as SGX's
 * MRSIGNER sealing does, so that a new version of the program keeps its volumes' counters, and a host
 * cannot get a fresh, empty counter by running the volume under another enclave the broker accepts.
 * TDX has no signer: the TD measurement.
 */
export function counterIdentity(f: IdentityFields): string {
  return f.tee === 'sgx'
    ? `sgx:${f.mrsigner.toLowerCase()}:${f.isvprodid}`
    : `tdx:${f.mrenclave.toLowerCase()}`;
}
