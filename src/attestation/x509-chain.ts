/**
 * Certificate chains and CRLs for attestation evidence: every link's issuer name and signature, validity
 * at the verification time, CA constraints, and revocation, ending at one pinned root. Certificates and
 * CRLs are read strictly from DER (certificate.ts); signatures are checked with node:crypto.
 */
import { X509Certificate as PeculiarCertificate, X509Crl as PeculiarCrl } from '@peculiar/x509';
import type { KeyObject } from 'node:crypto';
import { FormatError, bytesEqual } from './bytes.ts';
import { Certificate, Crl } from './certificate.ts';
import { VerificationError } from './errors.ts';
import { BoundedMemo, digestOf } from './memo.ts';

export { Certificate, Crl } from './certificate.ts';

const MAX_CHAIN = 8;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Certificates of a PEM bundle, in order. */
export function parsePemChain(pem: string, what: string): Certificate[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new FormatError('bad-pem', `${what}: no certificate`);
  // Real chains have 2 or 3 links; refuse long ones before parsing any.
  if (blocks.length > MAX_CHAIN)
    throw new FormatError('bad-pem', `${what}: more than ${MAX_CHAIN} certificates`);
  return blocks.map((b) => parseCert(pemBody(b[1]), what));
}

function pemBody(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64.replace(/\s+/g, ''), 'base64'));
}

/** One certificate from DER or PEM; bytes after the certificate are refused (DER allows none). */
export function parseCert(data: Uint8Array | string, what: string): Certificate {
  let der: Uint8Array;
  if (typeof data === 'string') {
    const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/.exec(data);
    if (body === null) throw new FormatError('bad-certificate', `${what}: not a PEM certificate`);
    der = pemBody(body[1]);
  } else {
    der = Uint8Array.from(data);
  }
  // Equal bytes parse to the one shared (never changed) object, so checks cached per object hold for them.
  return parsedCerts.get(digestOf(der), () => new Certificate(der, what));
}

/** Parsed certificates and CRLs by the hash of their DER; a few hundred covers many platforms' chains. */
const parsedCerts = new BoundedMemo<Certificate>(512);
const parsedCrls = new BoundedMemo<Crl>(64);

/** A CRL from hex DER (the collateral's encoding). */
export function parseCrlHex(hex: string, what: string): Crl {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new FormatError('bad-crl', `${what}: not hex DER`);
  return parseCrl(Uint8Array.from(Buffer.from(hex, 'hex')), what);
}

/** A CRL from DER, read strictly: one byte form per CRL (certificate.ts). */
export function parseCrl(der: Uint8Array, what: string): Crl {
  const copy = Uint8Array.from(der);
  return parsedCrls.get(digestOf(copy), () => new Crl(copy, what));
}

/** The raw value of extension `oid`, or undefined. */
export function extensionValue(cert: Certificate, oid: string): Uint8Array | undefined {
  return cert.extension(oid);
}

/** The certificate's public key as a node:crypto KeyObject (for raw ECDSA checks). */
export function publicKeyOf(cert: Certificate): KeyObject {
  return cert.publicKey;
}

/**
 * Signature check of a certificate or CRL by `issuer`, with node:crypto over the exact signed bytes.
 * node:crypto has no CRL support: a CRL not signed with ECDSA (AMD's RSA-PSS ARK CRL) goes through
 * @peculiar/x509 (WebCrypto), the one asynchronous path.
 */
async function signedBy(signed: Certificate | Crl, issuer: Certificate): Promise<boolean> {
  // A signature is a fact about two sets of bytes; parsed objects are shared per bytes (parseCert).
  if (verifiedSignatures.get(signed)?.has(issuer)) return true;
  let valid = signed.signedBy(issuer);
  if (valid === undefined) {
    try {
      valid = await new PeculiarCrl(Uint8Array.from(signed.der)).verify({
        publicKey: new PeculiarCertificate(Uint8Array.from(issuer.der)).publicKey,
      });
    } catch {
      valid = false;
    }
  }
  if (valid) {
    const issuers = verifiedSignatures.get(signed) ?? new WeakSet<Certificate>();
    issuers.add(issuer);
    verifiedSignatures.set(signed, issuers);
  }
  return valid;
}

/** Good signatures seen: signed object to the issuers whose keys verified it. Failures are not kept. */
const verifiedSignatures = new WeakMap<Certificate | Crl, WeakSet<Certificate>>();

function isSame(a: Certificate, b: Certificate): boolean {
  return bytesEqual(a.der, b.der);
}

/** The certificate must be valid at `at` (`cert-expired` otherwise). */
export function checkValidity(cert: Certificate, at: Date, what: string): void {
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
  chain: Certificate[],
  root: Certificate,
  at: Date,
  what: string,
): Promise<Certificate[]> {
  const last = chain[chain.length - 1];
  if (last !== undefined && last.subject.equals(last.issuer) && !isSame(last, root)) {
    throw new VerificationError(
      'untrusted-root',
      `${what}: chain ends at "${last.subject}", not the trusted root`,
    );
  }
  const certs = last !== undefined && isSame(last, root) ? chain.slice(0, -1) : [...chain];
  if (certs.length === 0)
    throw new VerificationError('chain-incomplete', `${what}: no certificate below the root`);
  const top = certs[certs.length - 1];
  if (!top.issuer.equals(root.subject)) {
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
    if (!cert.issuer.equals(issuer.subject)) {
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
    const bc = issuer.basicConstraints(what);
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
export async function verifyCrl(crl: Crl, issuer: Certificate, at: Date, what: string): Promise<void> {
  if (!crl.issuer.equals(issuer.subject)) {
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
export function crlWindow(crl: Crl, at: Date, what: string): void {
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
export function checkRevocation(full: Certificate[], crls: Crl[], what: string): void {
  for (let i = 0; i < full.length - 1; i++) {
    const cert = full[i];
    const crl = crls.find((c) => c.issuer.equals(cert.issuer));
    if (crl === undefined)
      throw new VerificationError('crl-missing', `${what}: no CRL from "${cert.issuer}"`);
    if (crl.revokes(cert)) {
      throw new VerificationError(
        'cert-revoked',
        `${what}: "${cert.subject}" (serial ${cert.serialHex}) is revoked`,
      );
    }
  }
}
