/**
 * RA-TLS (as Gramine does it): a TLS key pair made inside the enclave and a self-signed X.509
 * certificate that carries a quote binding that key, so a client can check in one handshake that it
 * talks to a measured enclave.
 *
 * Two evidence extensions, both written and both checked when present:
 * - `1.2.840.113741.1337.6`: the raw quote; its report data is SHA-256(DER SubjectPublicKeyInfo) and
 *   32 zero bytes. (Gramine writes this OID with its DER tag and length inside the OID value, which
 *   reads back as `0.6.9.42.840.113741.1337.6`; certificates using either spelling are accepted.)
 * - TCG DICE tagged evidence `2.23.133.5.4.9`: CBOR tag 60000 over `[quote, claims]`, where `claims`
 *   is the CBOR map `{"pubkey-hash": bstr(CBOR [1 (SHA-256), SHA-256(DER SPKI)])}` and the quote's
 *   report data is SHA-256(claims) and 32 zero bytes.
 *
 * Certificate creation and checking use Web Crypto and @peculiar/x509 only (usable in the enclave);
 * the `node:tls` helpers take sockets and options, never open connections themselves.
 */
import {
  BasicConstraintsExtension,
  Extension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { bytesEqual, concat, toHex } from './bytes.ts';
import { encodeBase64 } from '../interface/kbs/protocol.ts';
import { ReportDataMismatch, checkReportData, claimsOf } from './evidence.ts';
import type { Claims, EvidenceVerifier, Verdict } from './evidence.ts';
import { PolicyError, checkPolicy } from './policy.ts';
import type { Policy } from './policy.ts';

/** Gramine's quote extension, properly encoded. */
export const RATLS_QUOTE_OID = '1.2.840.113741.1337.6';
/** The same extension as Gramine's certificates actually spell it (DER header inside the OID). */
export const GRAMINE_QUOTE_OID_AS_WRITTEN = '0.6.9.42.840.113741.1337.6';
/** TCG DICE tagged evidence (conceptual message wrapper). */
export const TCG_DICE_TAGGED_EVIDENCE_OID = '2.23.133.5.4.9';
/** CBOR tag of "TEE quote" tagged evidence, as Gramine uses it. */
export const TEE_QUOTE_CBOR_TAG = 60000;
const IANA_SHA256 = 1;

/** Produces a quote whose 64-byte report data is `reportData` (inside the enclave). */
export type QuoteSource = (reportData: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** An RA-TLS key and certificate, ready for `tls.createServer({ key, cert })`. */
export interface RaTlsIdentity {
  certificatePem: string;
  certificateDer: Uint8Array;
  privateKeyPem: string;
  keys: CryptoKeyPair;
}

/** A refused RA-TLS certificate; `code` names the failed step. */
export class RaTlsError extends Error {
  override name = 'RaTlsError';
  constructor(
    readonly code:
      | 'bad-certificate'
      | 'certificate-signature'
      | 'certificate-expired'
      | 'no-evidence'
      | 'bad-evidence'
      | 'key-mismatch'
      | 'evidence-refused'
      | 'policy',
    message: string,
  ) {
    super(message);
  }
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };

const sha256 = async (data: Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
const reportDataOf = (digest: Uint8Array): Uint8Array => concat(digest, new Uint8Array(64 - digest.length));

/**
 * Makes a P-256 key pair and a self-signed certificate carrying two quotes from `quote` (legacy and
 * DICE forms). Valid from a minute ago for `days` (default 365).
 */
export async function createRaTlsCertificate(
  quote: QuoteSource,
  options: { subject?: string; days?: number } = {},
): Promise<RaTlsIdentity> {
  const keys = (await crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  const keyHash = await sha256(spki);
  const legacyQuote = await quote(reportDataOf(keyHash));
  const claims = diceClaims(keyHash);
  const diceQuote = await quote(reportDataOf(await sha256(claims)));
  const evidence = cborTag(TEE_QUOTE_CBOR_TAG, cborArray([cborBytes(diceQuote), cborBytes(claims)]));
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await X509CertificateGenerator.createSelfSigned({
    // Random and positive (the top bit clear, so DER needs no sign byte).
    serialNumber: toHex(crypto.getRandomValues(new Uint8Array(16))).replace(/^[89a-f]/, '1'),
    name: options.subject ?? 'CN=RATLS, O=Cloister',
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 365) * 86_400_000),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new Extension(RATLS_QUOTE_OID, false, new Uint8Array(legacyQuote)),
      new Extension(TCG_DICE_TAGGED_EVIDENCE_OID, false, new Uint8Array(evidence)),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certificatePem: cert.toString('pem'),
    certificateDer: new Uint8Array(cert.rawData),
    privateKeyPem: pem('PRIVATE KEY', pkcs8),
    keys,
  };
}

/** What a checked RA-TLS certificate proved. */
export interface RaTlsResult {
  verdict: Verdict;
  claims: Claims;
  /** Which extensions were present (and all verified). */
  evidence: Array<'legacy' | 'dice'>;
}

/** Options of `checkRaTlsCertificate`. */
export interface RaTlsCheckOptions {
  verifier: EvidenceVerifier;
  /** Checked on the verdict; omit only when the caller judges `claims` itself. */
  policy?: Policy;
  /** Time for the certificate validity window; now when absent. */
  at?: Date;
}

/** Verifies certificate → quote(s) → policy; throws `RaTlsError`. */
export async function checkRaTlsCertificate(
  certificate: Uint8Array | string | X509Certificate,
  options: RaTlsCheckOptions,
): Promise<RaTlsResult> {
  let cert: X509Certificate;
  try {
    cert =
      certificate instanceof X509Certificate
        ? certificate
        : typeof certificate === 'string'
          ? new X509Certificate(certificate)
          : new X509Certificate(new Uint8Array(certificate));
  } catch (error) {
    throw new RaTlsError('bad-certificate', `not an X.509 certificate: ${(error as Error).message}`);
  }
  let signed: boolean;
  try {
    signed = await cert.verify({ signatureOnly: true, publicKey: cert.publicKey });
  } catch (error) {
    throw new RaTlsError(
      'certificate-signature',
      `the self-signature cannot be checked: ${(error as Error).message}`,
    );
  }
  if (!signed) throw new RaTlsError('certificate-signature', 'the certificate is not signed by its own key');
  const at = options.at ?? new Date();
  if (at < cert.notBefore || at > cert.notAfter) {
    throw new RaTlsError('certificate-expired', `the certificate is not valid at ${at.toISOString()}`);
  }
  const keyHash = await sha256(new Uint8Array(cert.publicKey.rawData));
  const checks: Array<{ kind: 'legacy' | 'dice'; quote: Uint8Array; reportData: Uint8Array }> = [];
  for (const ext of cert.extensions) {
    const value = new Uint8Array(ext.value);
    if (ext.type === RATLS_QUOTE_OID || ext.type === GRAMINE_QUOTE_OID_AS_WRITTEN) {
      checks.push({ kind: 'legacy', quote: value, reportData: reportDataOf(keyHash) });
    } else if (ext.type === TCG_DICE_TAGGED_EVIDENCE_OID) {
      const { quote, claims } = parseTaggedEvidence(value);
      if (!bytesEqual(claimedKeyHash(claims), keyHash)) {
        throw new RaTlsError('key-mismatch', 'the DICE claims name another public key than the certificate');
      }
      checks.push({ kind: 'dice', quote, reportData: reportDataOf(await sha256(claims)) });
    }
  }
  if (checks.length === 0) throw new RaTlsError('no-evidence', 'the certificate carries no RA-TLS evidence');
  let verdict: Verdict | undefined;
  for (const c of checks) {
    try {
      verdict = await options.verifier(c.quote, c.reportData);
      checkReportData(verdict, c.reportData);
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const code = error instanceof ReportDataMismatch ? 'key-mismatch' : 'evidence-refused';
      throw new RaTlsError(code, `${c.kind} evidence: ${reason}`);
    }
  }
  try {
    if (options.policy !== undefined) checkPolicy(verdict as Verdict, options.policy);
  } catch (error) {
    if (error instanceof PolicyError) throw new RaTlsError('policy', error.message);
    throw error;
  }
  return {
    verdict: verdict as Verdict,
    claims: claimsOf(verdict as Verdict),
    evidence: checks.map((c) => c.kind),
  };
}

/**
 * `tls.connect` options for an RA-TLS client: the certificate is self-signed, so the CA check is
 * replaced by `verifyRaTlsPeer` once connected (TLS itself still proves the peer holds the key).
 */
export function raTlsClientOptions(): { rejectUnauthorized: false; checkServerIdentity: () => undefined } {
  return { rejectUnauthorized: false, checkServerIdentity: () => undefined };
}

/**
 * Call on `secureConnect`: verifies the peer's certificate, quote and policy; destroys the socket and
 * throws when they fail, so no application data is sent to an unverified peer.
 */
export async function verifyRaTlsPeer(socket: TLSSocket, options: RaTlsCheckOptions): Promise<RaTlsResult> {
  const peer: PeerCertificate | undefined = socket.getPeerCertificate(false);
  try {
    if (peer?.raw === undefined) throw new RaTlsError('bad-certificate', 'the peer sent no certificate');
    return await checkRaTlsCertificate(new Uint8Array(peer.raw), options);
  } catch (error) {
    socket.destroy(error as Error);
    throw error;
  }
}

// Tagged evidence: tag(60000, [bstr quote, bstr claims]); claims: {"pubkey-hash": bstr([1, bstr])}.
function parseTaggedEvidence(value: Uint8Array): { quote: Uint8Array; claims: Uint8Array } {
  try {
    const item = decodeCbor(value);
    if (
      item.tag !== TEE_QUOTE_CBOR_TAG ||
      !Array.isArray(item.value) ||
      item.value.length !== 2 ||
      !item.value.every((x) => x instanceof Uint8Array)
    ) {
      throw new Error('expected tag 60000 over [quote, claims]');
    }
    const [quote, claims] = item.value as Uint8Array[];
    return { quote, claims };
  } catch (error) {
    throw new RaTlsError('bad-evidence', `DICE tagged evidence: ${(error as Error).message}`);
  }
}

function claimedKeyHash(claims: Uint8Array): Uint8Array {
  try {
    const map = decodeCbor(claims).value;
    if (!(map instanceof Map)) throw new Error('claims are not a map');
    const entry = map.get('pubkey-hash');
    if (!(entry instanceof Uint8Array)) throw new Error('no pubkey-hash claim');
    const pair = decodeCbor(entry).value;
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      pair[0] !== IANA_SHA256 ||
      !(pair[1] instanceof Uint8Array)
    ) {
      throw new Error('pubkey-hash is not [1 (SHA-256), digest]');
    }
    return pair[1];
  } catch (error) {
    if (error instanceof RaTlsError) throw error;
    throw new RaTlsError('bad-evidence', `DICE claims: ${(error as Error).message}`);
  }
}

function diceClaims(keyHash: Uint8Array): Uint8Array {
  const hashEntry = cborArray([cborUint(IANA_SHA256), cborBytes(keyHash)]);
  return concat(cborHead(5, 1), cborText('pubkey-hash'), cborBytes(hashEntry));
}

// A minimal CBOR (RFC 8949) writer and reader: unsigned ints, byte and text strings, arrays, maps and
// tags with definite lengths — all this evidence uses. The reader bounds every length by the input.
function cborHead(major: number, n: number): Uint8Array {
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  return Uint8Array.of(m | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}
const cborUint = (n: number): Uint8Array => cborHead(0, n);
const cborBytes = (b: Uint8Array): Uint8Array => concat(cborHead(2, b.length), b);
const cborText = (s: string): Uint8Array =>
  cborBytes(new TextEncoder().encode(s)).map((x, i) => (i === 0 ? x | 0x60 : x));
const cborArray = (items: Uint8Array[]): Uint8Array => concat(cborHead(4, items.length), ...items);
const cborTag = (tag: number, item: Uint8Array): Uint8Array => concat(cborHead(6, tag), item);

type Cbor = number | Uint8Array | string | Cbor[] | Map<Cbor, Cbor>;

/** Decodes one CBOR item that must span all of `bytes`; `tag` is set for a tagged top-level item. */
function decodeCbor(bytes: Uint8Array): { tag?: number; value: Cbor } {
  let pos = 0;
  const need = (n: number): void => {
    if (n > bytes.length - pos) throw new Error('truncated CBOR');
  };
  const head = (): [number, number] => {
    need(1);
    const b = bytes[pos++];
    const info = b & 31;
    if (info < 24) return [b >> 5, info];
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
    if (size === 0) throw new Error('unsupported CBOR length encoding');
    need(size);
    let n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + bytes[pos++];
    return [b >> 5, n];
  };
  const item = (depth: number): Cbor => {
    if (depth > 8) throw new Error('CBOR nested too deeply');
    const [major, n] = head();
    switch (major) {
      case 0:
        return n;
      case 2:
      case 3: {
        need(n);
        const data = bytes.slice(pos, (pos += n));
        return major === 2 ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
      }
      case 4: {
        need(n); // each element takes at least a byte
        return Array.from({ length: n }, () => item(depth + 1));
      }
      case 5: {
        need(2 * n);
        const map = new Map<Cbor, Cbor>();
        for (let i = 0; i < n; i++) map.set(item(depth + 1), item(depth + 1));
        return map;
      }
      default:
        throw new Error(`unsupported CBOR major type ${major}`);
    }
  };
  let tag: number | undefined;
  const first = bytes[0];
  if (first !== undefined && first >> 5 === 6) tag = head()[1];
  const value = item(0);
  if (pos !== bytes.length) throw new Error('trailing bytes after CBOR item');
  return { tag, value };
}

function pem(label: string, der: Uint8Array): string {
  const b64 = encodeBase64(der).replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
