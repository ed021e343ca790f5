/**
 * X.509 certificates and CRLs read strictly from DER, only the fields attestation checks: names,
 * serial, validity or update window, public key, extensions, revoked serials, and the exact signed
 * bytes. Every structure is walked in full (one DER value, every field in its place, nothing left
 * over), so one certificate or CRL has one byte form; the signature is checked over the exact
 * to-be-signed bytes with node:crypto (native), never through WebCrypto.
 */
import { X509Certificate as NativeCertificate, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { FormatError, bytesEqual, toHex } from './bytes.ts';
import { DerTag, derChildren, derOid, derUint, parseDer } from './der.ts';
import type { Der } from './der.ts';

const TAG = {
  BOOLEAN: 0x01,
  NULL: 0x05,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  /** [0] EXPLICIT (version in a certificate, crlExtensions in a CRL). */
  CONTEXT_0: 0xa0,
  ISSUER_UID: 0x81,
  SUBJECT_UID: 0x82,
  /** [3] EXPLICIT extensions of a certificate. */
  CONTEXT_3: 0xa3,
} as const;

const ECDSA_HASH: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

function malformed(code: string, what: string, detail: string): never {
  throw new FormatError(code, `${what}: ${detail}`);
}

/** A distinguished name: compared by its exact DER, shown as `CN=…, O=…` in encoded order. */
export class Name {
  #text: string | undefined;
  private constructor(
    readonly der: Uint8Array,
    private readonly attributes: [string, Der][],
  ) {}

  /** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }. */
  static read(tlv: Der, fail: (detail: string) => never): Name {
    if (tlv.tag !== DerTag.SEQUENCE) fail('name is not a SEQUENCE');
    const attributes: [string, Der][] = [];
    for (const rdn of derChildren(tlv.content)) {
      if (rdn.tag !== TAG.SET) fail('name component is not a SET');
      const atvs = derChildren(rdn.content);
      if (atvs.length === 0) fail('empty name component');
      for (const atv of atvs) {
        const parts = atv.tag === DerTag.SEQUENCE ? derChildren(atv.content) : [];
        if (parts.length !== 2 || parts[0].tag !== DerTag.OID) fail('name attribute is not { OID, value }');
        attributes.push([derOid(parts[0].content), parts[1]]);
      }
    }
    return new Name(tlv.encoded, attributes);
  }

  equals(other: Name): boolean {
    return bytesEqual(this.der, other.der);
  }

  toString(): string {
    this.#text ??= this.attributes
      .map(([oid, value]) => `${NAME_KEYS[oid] ?? oid}=${Buffer.from(value.content).toString('utf8')}`)
      .join(', ');
    return this.#text;
  }
}

const NAME_KEYS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'E',
};

/** UTCTime (YYMMDDHHMMSSZ, 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as DER requires. */
function readTime(tlv: Der, fail: (detail: string) => never): Date {
  const text = String.fromCharCode(...tlv.content);
  const match =
    tlv.tag === TAG.UTC_TIME
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
      : tlv.tag === TAG.GENERALIZED_TIME
        ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
        : null;
  if (match === null) fail('time is not a DER UTCTime or GeneralizedTime');
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const fullYear = tlv.tag === TAG.UTC_TIME ? (year < 50 ? 2000 + year : 1900 + year) : year;
  const date = new Date(Date.UTC(fullYear, month - 1, day, hour, minute, second));
  // Date.UTC rolls over (month 13, day 32); a real date reads back the same.
  if (
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    fail(`time ${text} is not a calendar time`);
  }
  return date;
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }. */
function readAlgorithm(tlv: Der, fail: (detail: string) => never): { oid: string; params: Der[] } {
  const parts = tlv.tag === DerTag.SEQUENCE ? derChildren(tlv.content) : [];
  if (parts.length === 0 || parts.length > 2 || parts[0].tag !== DerTag.OID) {
    fail('algorithm identifier is not { OID, parameters }');
  }
  return { oid: derOid(parts[0].content), params: parts.slice(1) };
}

/** The three parts of a signed structure (certificate or CRL), read strictly. */
interface Signed {
  tbs: Der;
  /** The outer AlgorithmIdentifier, exactly as encoded. */
  algorithm: Der;
  /** The signature's bytes (the BIT STRING holds whole bytes). */
  signature: Uint8Array;
}

function readSigned(der: Uint8Array, fail: (detail: string) => never): Signed {
  const top = parseDer(der);
  const parts = top.tag === DerTag.SEQUENCE ? derChildren(top.content) : [];
  if (
    parts.length !== 3 ||
    parts[0].tag !== DerTag.SEQUENCE ||
    parts[1].tag !== DerTag.SEQUENCE ||
    parts[2].tag !== DerTag.BIT_STRING
  ) {
    fail('not SEQUENCE { to-be-signed, algorithm, signature }');
  }
  if (parts[2].content.length < 1 || parts[2].content[0] !== 0) fail('signature is not whole bytes');
  readAlgorithm(parts[1], fail);
  return { tbs: parts[0], algorithm: parts[1], signature: parts[2].content.subarray(1) };
}

export interface Extension {
  critical: boolean;
  /** extnValue's content: the extension's own DER. */
  value: Uint8Array;
}

function readBoolean(tlv: Der, fail: (detail: string) => never): boolean {
  if (
    tlv.tag !== TAG.BOOLEAN ||
    tlv.content.length !== 1 ||
    (tlv.content[0] !== 0 && tlv.content[0] !== 0xff)
  ) {
    fail('not a BOOLEAN');
  }
  return tlv.content[0] === 0xff;
}

/** Extensions ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function readExtensions(tlv: Der, fail: (detail: string) => never): Map<string, Extension> {
  const list = parseDer(tlv.content);
  if (list.tag !== DerTag.SEQUENCE) fail('extensions are not a SEQUENCE');
  const out = new Map<string, Extension>();
  for (const ext of derChildren(list.content)) {
    const parts = ext.tag === DerTag.SEQUENCE ? derChildren(ext.content) : [];
    if (parts.length < 2 || parts.length > 3 || parts[0].tag !== DerTag.OID) fail('malformed extension');
    // Inside the signed bytes an explicit FALSE (not DER, but seen) changes nothing a signer did not sign.
    const critical = parts.length === 3 && readBoolean(parts[1], fail);
    const value = parts[parts.length - 1];
    if (value.tag !== DerTag.OCTET_STRING) fail('extension value is not an OCTET STRING');
    const oid = derOid(parts[0].content);
    if (out.has(oid)) fail(`extension ${oid} appears twice`);
    out.set(oid, { critical, value: value.content });
  }
  return out;
}

const BASIC_CONSTRAINTS = '2.5.29.19';

interface CertificateFields {
  signed: Signed;
  serial: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: Map<string, Extension>;
}

/**
 * TBSCertificate ::= SEQUENCE { version [0] DEFAULT v1, serialNumber, signature, issuer, validity,
 * subject, subjectPublicKeyInfo, issuerUniqueID [1] OPTIONAL, subjectUniqueID [2] OPTIONAL,
 * extensions [3] OPTIONAL } — in that order and nothing else.
 */
function readCertificate(der: Uint8Array, fail: (detail: string) => never): CertificateFields {
  const signed = readSigned(der, fail);
  const fields = derChildren(signed.tbs.content);
  let version = 0;
  let i = 0;
  if (fields[0]?.tag === TAG.CONTEXT_0) {
    const v = parseDer(fields[0].content);
    // DER omits the DEFAULT v1, so a written version is v2 (1) or v3 (2).
    if (v.tag !== DerTag.INTEGER || v.content.length !== 1 || (v.content[0] !== 1 && v.content[0] !== 2)) {
      fail('version is not v2 or v3');
    }
    version = v.content[0];
    i = 1;
  }
  const [serial, signature, issuer, validity, subject, spki] = fields.slice(i, i + 6);
  if (spki === undefined) fail('to-be-signed certificate is short');
  if (serial.tag !== DerTag.INTEGER || serial.content.length === 0) fail('serial is not an INTEGER');
  // The signed algorithm must be the outer one, byte for byte (RFC 5280 4.1.1.2).
  if (signature.tag !== DerTag.SEQUENCE || !bytesEqual(signature.encoded, signed.algorithm.encoded)) {
    fail('the signed and outer signature algorithms differ');
  }
  const window = validity.tag === DerTag.SEQUENCE ? derChildren(validity.content) : [];
  if (window.length !== 2) fail('validity is not { notBefore, notAfter }');
  if (spki.tag !== DerTag.SEQUENCE) fail('subject public key info is not a SEQUENCE');
  i += 6;
  if (fields[i]?.tag === TAG.ISSUER_UID && version >= 1) i++;
  if (fields[i]?.tag === TAG.SUBJECT_UID && version >= 1) i++;
  let extensions = new Map<string, Extension>();
  if (fields[i]?.tag === TAG.CONTEXT_3 && version === 2) extensions = readExtensions(fields[i++], fail);
  if (i !== fields.length) fail('unexpected field in the to-be-signed certificate');
  return {
    signed,
    serial: serial.content,
    issuer: Name.read(issuer, fail),
    subject: Name.read(subject, fail),
    notBefore: readTime(window[0], fail),
    notAfter: readTime(window[1], fail),
    spki: spki.encoded,
    extensions,
  };
}

/** Runs a strict reader; any failure inside it (a DER error included) becomes a FormatError `code`. */
function strictly<T>(code: string, what: string, read: (fail: (detail: string) => never) => T): T {
  const fail = (detail: string): never => malformed(code, what, detail);
  try {
    return read(fail);
  } catch (e) {
    if (e instanceof FormatError && e.code === code) throw e;
    return fail(e instanceof Error ? e.message : String(e));
  }
}

/** SubjectPublicKeyInfo of an uncompressed P-256 key, up to the point's 64 bytes (x || y). */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');

/**
 * A KeyObject from SubjectPublicKeyInfo DER. Every key of Intel's PKI is P-256: its point goes in as
 * a JWK, which OpenSSL imports (checking the point is on the curve) in about two thirds of the time
 * its DER decoder takes. Any other key goes through the decoder.
 */
function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  if (
    spki.length === P256_SPKI_PREFIX.length + 64 &&
    P256_SPKI_PREFIX.equals(spki.subarray(0, P256_SPKI_PREFIX.length))
  ) {
    const point = Buffer.from(spki.subarray(P256_SPKI_PREFIX.length));
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(0, 32).toString('base64url'),
        y: point.subarray(32).toString('base64url'),
      },
      format: 'jwk',
    });
  }
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/** An X.509 v1–v3 certificate. */
export class Certificate {
  readonly serial: Uint8Array;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo, exactly as encoded. */
  readonly spki: Uint8Array;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly #signed: Signed;
  #publicKey: KeyObject | undefined;

  /** Reads `der` strictly; a FormatError (`bad-certificate`) names what is wrong. */
  constructor(
    readonly der: Uint8Array,
    what: string,
  ) {
    const f = strictly('bad-certificate', what, (fail) => readCertificate(der, fail));
    this.#signed = f.signed;
    this.serial = f.serial;
    this.issuer = f.issuer;
    this.subject = f.subject;
    this.notBefore = f.notBefore;
    this.notAfter = f.notAfter;
    this.spki = f.spki;
    this.extensions = f.extensions;
  }

  get serialHex(): string {
    return toHex(this.serial);
  }

  /** The subject's public key (parsed once per certificate object). */
  get publicKey(): KeyObject {
    this.#publicKey ??= publicKeyFromSpki(this.spki);
    return this.#publicKey;
  }

  /** The raw value of extension `oid`, or undefined. */
  extension(oid: string): Uint8Array | undefined {
    return this.extensions.get(oid)?.value;
  }

  /** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
  basicConstraints(what: string): { ca: boolean; pathLength?: number } | undefined {
    const value = this.extension(BASIC_CONSTRAINTS);
    if (value === undefined) return undefined;
    return strictly('bad-certificate', `${what}: basic constraints`, (fail) => {
      const seq = parseDer(value);
      if (seq.tag !== DerTag.SEQUENCE) fail('not a SEQUENCE');
      const parts = derChildren(seq.content);
      let i = 0;
      const ca = parts[i]?.tag === TAG.BOOLEAN && readBoolean(parts[i++], fail);
      const pathLength = parts[i]?.tag === DerTag.INTEGER ? derUint(parts[i++].content) : undefined;
      if (i !== parts.length) fail('unexpected field');
      return { ca, pathLength };
    });
  }

  /** Whether `issuer`'s key signed this certificate's to-be-signed bytes. */
  signedBy(issuer: Certificate): boolean {
    return (
      signatureValid(this.#signed, issuer, () =>
        new NativeCertificate(Buffer.from(this.der)).verify(issuer.publicKey),
      ) ?? false
    );
  }
}

/**
 * ECDSA signatures are checked over the to-be-signed bytes with the issuer's EC key. Other algorithms
 * go to `other` (OpenSSL's X509_verify for certificates); undefined when there is none.
 */
function signatureValid(signed: Signed, issuer: Certificate, other?: () => boolean): boolean | undefined {
  try {
    const algorithm = readAlgorithm(signed.algorithm, () => {
      throw new Error('algorithm');
    });
    const hash = ECDSA_HASH[algorithm.oid];
    if (hash !== undefined) {
      // ecdsa-with-SHA* has no parameters (RFC 5758), and a P-256/P-384 key must check it.
      if (algorithm.params.length !== 0 || issuer.publicKey.asymmetricKeyType !== 'ec') return false;
      return verify(
        hash,
        signed.tbs.encoded,
        { key: issuer.publicKey, dsaEncoding: 'der' },
        signed.signature,
      );
    }
    return other?.();
  } catch {
    return false;
  }
}

interface CrlFields {
  signed: Signed;
  issuer: Name;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: Set<string>;
}

/**
 * TBSCertList ::= SEQUENCE { version OPTIONAL (v2), signature, issuer, thisUpdate, nextUpdate OPTIONAL,
 * revokedCertificates SEQUENCE OF { serial, date, extensions OPTIONAL } OPTIONAL, crlExtensions [0] OPTIONAL }.
 */
function readCrl(der: Uint8Array, fail: (detail: string) => never): CrlFields {
  const signed = readSigned(der, fail);
  const fields = derChildren(signed.tbs.content);
  let i = 0;
  if (fields[0]?.tag === DerTag.INTEGER) {
    // Only v2 (1) is ever written; v1 is the omitted default.
    if (fields[0].content.length !== 1 || fields[0].content[0] !== 1) fail('version is not v2');
    i = 1;
  }
  const [signature, issuer, thisUpdate] = fields.slice(i, i + 3);
  if (thisUpdate === undefined) fail('to-be-signed list is short');
  if (signature.tag !== DerTag.SEQUENCE || !bytesEqual(signature.encoded, signed.algorithm.encoded)) {
    fail('the signed and outer signature algorithms differ');
  }
  i += 3;
  let nextUpdate: Date | undefined;
  if (fields[i]?.tag === TAG.UTC_TIME || fields[i]?.tag === TAG.GENERALIZED_TIME) {
    nextUpdate = readTime(fields[i++], fail);
  }
  const revoked = new Set<string>();
  if (fields[i]?.tag === DerTag.SEQUENCE) {
    for (const entry of derChildren(fields[i++].content)) {
      const parts = entry.tag === DerTag.SEQUENCE ? derChildren(entry.content) : [];
      if (
        parts.length < 2 ||
        parts.length > 3 ||
        parts[0].tag !== DerTag.INTEGER ||
        parts[0].content.length === 0
      ) {
        fail('revoked entry is not { serial, date, extensions OPTIONAL }');
      }
      readTime(parts[1], fail);
      if (parts.length === 3 && parts[2].tag !== DerTag.SEQUENCE) fail('revoked entry extensions');
      revoked.add(toHex(parts[0].content));
    }
  }
  if (fields[i]?.tag === TAG.CONTEXT_0) readExtensions(fields[i++], fail);
  if (i !== fields.length) fail('unexpected field in the to-be-signed list');
  return {
    signed,
    issuer: Name.read(issuer, fail),
    thisUpdate: readTime(thisUpdate, fail),
    nextUpdate,
    revoked,
  };
}

/** An X.509 v2 certificate revocation list. */
export class Crl {
  readonly issuer: Name;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Serial numbers (hex of the INTEGER content) of the revoked certificates. */
  readonly #revoked: Set<string>;
  readonly #signed: Signed;

  /** Reads `der` strictly; a FormatError (`bad-crl`) names what is wrong. */
  constructor(
    readonly der: Uint8Array,
    what: string,
  ) {
    const f = strictly('bad-crl', what, (fail) => readCrl(der, fail));
    this.#signed = f.signed;
    this.issuer = f.issuer;
    this.thisUpdate = f.thisUpdate;
    this.nextUpdate = f.nextUpdate;
    this.#revoked = f.revoked;
  }

  /** Whether the CRL lists `cert`'s serial number. Only meaningful once the issuers are known to match. */
  revokes(cert: Certificate): boolean {
    return this.#revoked.has(cert.serialHex);
  }

  /** The revoked serial numbers (hex), in no particular order. */
  get revokedSerials(): string[] {
    return [...this.#revoked];
  }

  /**
   * Whether `issuer`'s key signed the to-be-signed list: ECDSA with node:crypto, undefined for other
   * algorithms (node:crypto has no CRL support).
   */
  signedBy(issuer: Certificate): boolean | undefined {
    return signatureValid(this.#signed, issuer);
  }
}
