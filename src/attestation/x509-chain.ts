/**
 * Certificate chains and CRLs for attestation evidence: every link's issuer name and signature, validity
 * at the verification time, CA constraints, and revocation, ending at one pinned root.
 */
import { X509Certificate as NodeX509Certificate, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { BasicConstraintsExtension, X509Certificate, X509Crl } from '@peculiar/x509';
import { FormatError, bytesEqual } from './bytes.ts';
import { DerTag, derChildren, derOid, parseDer, type Der } from './der.ts';
import { VerificationError } from './errors.ts';
import { BoundedMemo, digestOf } from './memo.ts';

const MAX_CHAIN = 8;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** Certificates of a PEM bundle, in order. */
export function parsePemChain(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new FormatError('bad-pem', `${what}: no certificate`);
  // Real chains have 2 or 3 links; parsing is the costly part, so refuse long ones before it.
  if (blocks.length > MAX_CHAIN)
    throw new FormatError('bad-pem', `${what}: more than ${MAX_CHAIN} certificates`);
  return blocks.map((b) => parseCert(b, what));
}

/** One certificate from DER or PEM; bytes after the certificate are refused (DER allows none). */
export function parseCert(data: Uint8Array | string, what: string): X509Certificate {
  const body =
    typeof data === 'string' ? /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END/.exec(data) : null;
  const der =
    typeof data !== 'string'
      ? Uint8Array.from(data)
      : body
        ? Uint8Array.from(Buffer.from(body[1].replace(/\s+/g, ''), 'base64'))
        : undefined;
  const parse = (): X509Certificate => {
    try {
      // One DER value and nothing after it: the ASN.1 parser below would ignore trailing bytes.
      if (der !== undefined) parseDer(der);
      return new X509Certificate(der ?? (data as string));
    } catch {
      throw new FormatError('bad-certificate', `${what}: not an X.509 certificate`);
    }
  };
  // Equal bytes parse to the one shared (never changed) object, so checks cached per object hold for them.
  return der === undefined ? parse() : parsedCerts.get(digestOf(der), parse);
}

/** Parsed certificates and CRLs by the hash of their DER; a few hundred covers many platforms' chains. */
const parsedCerts = new BoundedMemo<X509Certificate>(512);
const parsedCrls = new BoundedMemo<X509Crl>(64);

/** A CRL from hex DER (the collateral's encoding). */
export function parseCrlHex(hex: string, what: string): X509Crl {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new FormatError('bad-crl', `${what}: not hex DER`);
  return parseCrl(Uint8Array.from(Buffer.from(hex, 'hex')), what);
}

/**
 * A CRL from DER. Its outer structure is read strictly first: one DER value, nothing after it, and
 * SEQUENCE { tbsCertList SEQUENCE, signatureAlgorithm SEQUENCE, signatureValue BIT STRING } — the
 * ASN.1 parser below accepts a wrong length or tag outside the signed part, which would let one CRL
 * take many byte forms.
 */
export function parseCrl(der: Uint8Array, what: string): X509Crl {
  return parsedCrls.get(digestOf(der), () => {
    try {
      const parts = derChildren(parseDer(der).content);
      const tags = parts.map((p) => p.tag).join();
      if (tags !== `${DerTag.SEQUENCE},${DerTag.SEQUENCE},${DerTag.BIT_STRING}`) throw new Error(tags);
      return new X509Crl(Uint8Array.from(der));
    } catch {
      throw new FormatError('bad-crl', `${what}: not a CRL`);
    }
  });
}

/** Runs a lazy @peculiar/x509 decode (extensions are parsed on first access); a decode failure is a FormatError. */
function guarded<T>(decode: () => T, what: string): T {
  try {
    return decode();
  } catch {
    throw new FormatError('bad-certificate', `${what}: malformed certificate extension`);
  }
}

/** The raw value of extension `oid`, or undefined; a malformed extension list is a FormatError. */
export function extensionValue(cert: X509Certificate, oid: string, what: string): Uint8Array | undefined {
  const ext = guarded(() => cert.getExtension(oid), what);
  return ext === null ? undefined : new Uint8Array(ext.value);
}

/** The certificate's public key as a node:crypto KeyObject (for raw ECDSA checks). */
export function publicKeyOf(cert: X509Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
    publicKeys.set(cert, key);
  }
  return key;
}

const publicKeys = new WeakMap<X509Certificate, KeyObject>();

function isSame(a: X509Certificate, b: X509Certificate): boolean {
  return bytesEqual(new Uint8Array(a.rawData), new Uint8Array(b.rawData));
}

/**
 * Signature check of a certificate or CRL by `issuer`. Certificates go through OpenSSL (node:crypto),
 * about 20 times faster than WebCrypto here; node:crypto has no CRL support, so an ECDSA/SHA-256 CRL
 * (every CRL of Intel's PKI) is checked with node:crypto over its own bytes, others with @peculiar/x509.
 */
async function signedBy(cert: X509Certificate | X509Crl, issuer: X509Certificate): Promise<boolean> {
  // A signature is a fact about two sets of bytes; parsed objects are shared per bytes (parseCert).
  if (verifiedSignatures.get(cert)?.has(issuer)) return true;
  let valid: boolean;
  try {
    valid =
      cert instanceof X509Crl
        ? (ecdsaSha256CrlSignedBy(new Uint8Array(cert.rawData), issuer) ??
          (await cert.verify({ publicKey: issuer.publicKey })))
        : new NodeX509Certificate(Buffer.from(cert.rawData)).verify(publicKeyOf(issuer));
  } catch {
    valid = false;
  }
  if (valid) {
    const issuers = verifiedSignatures.get(cert) ?? new WeakSet<X509Certificate>();
    issuers.add(issuer);
    verifiedSignatures.set(cert, issuers);
  }
  return valid;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/**
 * CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }, with
 * tbsCertList's own `signature` AlgorithmIdentifier after an optional version. When both algorithm
 * identifiers are exactly ecdsa-with-SHA256 (no parameters), whether the issuer's key signed the
 * tbsCertList bytes; undefined for any other algorithm.
 */
function ecdsaSha256CrlSignedBy(der: Uint8Array, issuer: X509Certificate): boolean | undefined {
  // The outer structure was checked when the CRL was parsed (parseCrl).
  const [tbs, algorithm, signature] = derChildren(parseDer(der).content);
  const fields = derChildren(tbs.content);
  const inner = fields[0]?.tag === DerTag.INTEGER ? fields[1] : fields[0];
  if (!isEcdsaSha256(algorithm) || inner === undefined || !isEcdsaSha256(inner)) return undefined;
  // A BIT STRING of whole bytes: the first content byte (unused bits) is 0.
  if (signature.content[0] !== 0) return false;
  return verify(
    'sha256',
    tbs.encoded,
    { key: publicKeyOf(issuer), dsaEncoding: 'der' },
    signature.content.subarray(1),
  );
}

function isEcdsaSha256(algorithmIdentifier: Der): boolean {
  if (algorithmIdentifier.tag !== DerTag.SEQUENCE) return false;
  const [oid, ...rest] = derChildren(algorithmIdentifier.content);
  return rest.length === 0 && oid?.tag === DerTag.OID && derOid(oid.content) === ECDSA_WITH_SHA256;
}

/** Good signatures seen: signed object to the issuers whose keys verified it. Failures are not kept. */
const verifiedSignatures = new WeakMap<X509Certificate | X509Crl, WeakSet<X509Certificate>>();

/** The certificate must be valid at `at` (`cert-expired` otherwise). */
export function checkValidity(cert: X509Certificate, at: Date, what: string): void {
  if (at < cert.notBefore || at > cert.notAfter) {
    throw new VerificationError(
      'cert-expired',
      `${what}: "${cert.subject}" is valid ${cert.notBefore.toISOString()}..${cert.notAfter.toISOString()}, not at ${at.toISOString()}`,
    );
  }
}

/**
 * Verifies `chain` (leaf first; the root may or may not be included) up to `root` at time `at`.
 * Returns the chain ending with the root. Revocation is checked separately (`checkRevocation`).
 */
export async function verifyChain(
  chain: X509Certificate[],
  root: X509Certificate,
  at: Date,
  what: string,
): Promise<X509Certificate[]> {
  const last = chain[chain.length - 1];
  if (last !== undefined && last.subject === last.issuer && !isSame(last, root)) {
    throw new VerificationError(
      'untrusted-root',
      `${what}: chain ends at "${last.subject}", not the trusted root`,
    );
  }
  const certs = last !== undefined && isSame(last, root) ? chain.slice(0, -1) : [...chain];
  if (certs.length === 0)
    throw new VerificationError('chain-incomplete', `${what}: no certificate below the root`);
  const top = certs[certs.length - 1];
  if (top.issuer !== root.subject) {
    // With the root present, a gap below it is a missing intermediate rather than a foreign root.
    throw new VerificationError(
      certs.length < chain.length ? 'chain-incomplete' : 'untrusted-root',
      `${what}: chain ends at "${top.issuer}", not the trusted root "${root.subject}"`,
    );
  }
  const full = [...certs, root];
  if (!(await signedBy(root, root)))
    throw new VerificationError('cert-signature', `${what}: trusted root self-signature`);
  checkValidity(root, at, what);
  // Signatures first, bottom-up: nothing of a certificate is read beyond its names until it is authentic.
  for (let i = 0; i < certs.length; i++) {
    const cert = full[i];
    const issuer = full[i + 1];
    if (cert.issuer !== issuer.subject) {
      throw new VerificationError(
        'chain-incomplete',
        `${what}: "${cert.subject}" is not issued by "${issuer.subject}"`,
      );
    }
    if (!(await signedBy(cert, issuer))) {
      throw new VerificationError(
        'cert-signature',
        `${what}: signature of "${cert.subject}" does not verify with "${issuer.subject}"`,
      );
    }
    checkValidity(cert, at, what);
  }
  for (let i = 1; i < full.length; i++) {
    const issuer = full[i];
    const bc = guarded(() => issuer.getExtension(BasicConstraintsExtension), what);
    if (!bc?.ca) throw new VerificationError('cert-not-ca', `${what}: "${issuer.subject}" is not a CA`);
    // pathLenConstraint: how many CA certificates may follow this issuer (i - 1: those below it, leaf excluded).
    if (bc.pathLength !== undefined && i - 1 > bc.pathLength) {
      throw new VerificationError(
        'cert-not-ca',
        `${what}: "${issuer.subject}" path length ${bc.pathLength} exceeded`,
      );
    }
  }
  return full;
}

/** Checks a CRL's issuer, signature and update window. */
export async function verifyCrl(
  crl: X509Crl,
  issuer: X509Certificate,
  at: Date,
  what: string,
): Promise<void> {
  if (crl.issuer !== issuer.subject) {
    throw new VerificationError(
      'crl-issuer',
      `${what}: issued by "${crl.issuer}", expected "${issuer.subject}"`,
    );
  }
  if (!(await signedBy(crl, issuer)))
    throw new VerificationError('crl-signature', `${what}: signature does not verify`);
  crlWindow(crl, at, what);
}

/** The CRL must be current at `at`: thisUpdate <= at <= nextUpdate (`crl-expired` otherwise). */
export function crlWindow(crl: X509Crl, at: Date, what: string): void {
  if (at < crl.thisUpdate || crl.nextUpdate === undefined || at > crl.nextUpdate) {
    throw new VerificationError(
      'crl-expired',
      `${what}: valid ${crl.thisUpdate.toISOString()}..${crl.nextUpdate?.toISOString() ?? '?'}, not at ${at.toISOString()}`,
    );
  }
}

/**
 * Every certificate below the root must be covered by a (verified) CRL of its issuer, and not be listed.
 * `full` is a chain from `verifyChain`.
 */
export function checkRevocation(full: X509Certificate[], crls: X509Crl[], what: string): void {
  for (let i = 0; i < full.length - 1; i++) {
    const cert = full[i];
    const crl = crls.find((c) => c.issuer === cert.issuer);
    if (crl === undefined)
      throw new VerificationError('crl-missing', `${what}: no CRL from "${cert.issuer}"`);
    if (crl.findRevoked(cert) !== null) {
      throw new VerificationError(
        'cert-revoked',
        `${what}: "${cert.subject}" (serial ${cert.serialNumber}) is revoked`,
      );
    }
  }
}
