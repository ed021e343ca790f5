/**
 * The sim platform's certificate authority, in Intel's PCK formats: a self-signed root CA, a PCK
 * Platform CA, a TCB signing certificate and the platform's PCK certificate carrying Intel's SGX
 * extension (OID 1.2.840.113741.1.13.1). ECDSA P-256 throughout, as Intel's. The root is NOT Intel's:
 * nothing it signs is evidence of hardware.
 */
import { webcrypto } from 'node:crypto';
import {
  BasicConstraintsExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  X509CertificateGenerator,
  X509CrlGenerator,
} from '@peculiar/x509';
import type { X509Certificate } from '@peculiar/x509';
import { SGX_EXTENSION_OID } from '../../attestation/pck-extension.ts';

const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };
const P256 = { name: 'ECDSA', namedCurve: 'P-256' };

/** Subject names; "SIMULATED" is in each so no reader mistakes a sim chain for Intel's. */
export const SimNames = {
  root: 'CN=Cloister SIMULATED SGX Root CA, O=Cloister (simulation - no hardware)',
  pckCa: 'CN=Cloister SIMULATED SGX PCK Platform CA, O=Cloister (simulation - no hardware)',
  tcbSigning: 'CN=Cloister SIMULATED SGX TCB Signing, O=Cloister (simulation - no hardware)',
  pck: 'CN=Cloister SIMULATED SGX PCK Certificate, O=Cloister (simulation - no hardware)',
} as const;

/** One certificate with its private key, both PEM (PKCS#8 for the key). */
export interface SimCertKey {
  cert: string;
  key: string;
}

/** The four certificates of a sim platform. */
export interface SimPkiFiles {
  rootCa: SimCertKey;
  pckCa: SimCertKey;
  tcbSigning: SimCertKey;
  pck: SimCertKey;
}

/** What the PCK certificate's SGX extension states about the platform. */
export interface PckPlatformInfo {
  ppid: Uint8Array;
  cpuSvn: Uint8Array;
  pceSvn: number;
  pceId: Uint8Array;
  fmspc: Uint8Array;
}

// A minimal DER writer for the SGX extension (an encoding, not cryptography).
function tlv(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const n = content.length;
  const head = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([tag, ...head, ...content]);
}
function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a * 40 + b];
  for (const arc of rest) {
    const bytes = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Uint8Array.from(out));
}
const seq = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  tlv(0x30, Uint8Array.from(parts.flatMap((p) => [...p])));
const uint = (n: number): Uint8Array => tlv(0x02, Uint8Array.from(n >= 0x80 ? [0, n] : [n]));
const octets = (b: Uint8Array): Uint8Array => tlv(0x04, b);
const entry = (suffix: string, value: Uint8Array): Uint8Array =>
  seq(oid(`${SGX_EXTENSION_OID}${suffix}`), value);

/** DER value of the SGX PCK extension: PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID, FMSPC, type. */
export function sgxPckExtension(p: PckPlatformInfo): Uint8Array<ArrayBuffer> {
  const tcb = seq(
    ...Array.from(p.cpuSvn, (svn, i) => entry(`.2.${i + 1}`, uint(svn))),
    entry('.2.17', uint(p.pceSvn)),
    entry('.2.18', octets(p.cpuSvn)),
  );
  return seq(
    entry('.1', octets(p.ppid)),
    entry('.2', tcb),
    entry('.3', octets(p.pceId)),
    entry('.4', octets(p.fmspc)),
    // SGX Type 0: Standard.
    entry('.5', tlv(0x0a, Uint8Array.of(0))),
  );
}

function pemKey(pkcs8: ArrayBuffer): string {
  const b64 = Buffer.from(pkcs8).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

/** A PEM PKCS#8 P-256 key as a WebCrypto signing key (what @peculiar/x509 signs with). */
export async function signingKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, P256, false, ['sign']) as Promise<CryptoKey>;
}

/** A positive random serial number, hex. */
function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

/** Issues a fresh sim PKI valid from `notBefore` to `notAfter`. */
export async function createSimPki(
  platform: PckPlatformInfo,
  notBefore: Date,
  notAfter: Date,
): Promise<SimPkiFiles> {
  const generate = async (): Promise<CryptoKeyPair> =>
    (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pair = async (cert: X509Certificate, keys: CryptoKeyPair): Promise<SimCertKey> => ({
    cert: cert.toString('pem') + '\n',
    key: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  });
  const caUsage = new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true);
  const leafUsage = new KeyUsagesExtension(
    KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation,
    true,
  );
  const rootKeys = await generate();
  const root = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: SimNames.root,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING,
    keys: rootKeys,
    extensions: [new BasicConstraintsExtension(true, 1, true), caUsage],
  });
  const issue = (
    subject: string,
    keys: CryptoKeyPair,
    issuer: X509Certificate,
    issuerKey: CryptoKey,
    extensions: Extension[],
  ): Promise<X509Certificate> =>
    X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: issuer.subject,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: keys.publicKey,
      signingKey: issuerKey,
      extensions,
    });
  const pckCaKeys = await generate();
  const pckCa = await issue(SimNames.pckCa, pckCaKeys, root, rootKeys.privateKey, [
    new BasicConstraintsExtension(true, 0, true),
    caUsage,
  ]);
  const tcbKeys = await generate();
  const tcbSigning = await issue(SimNames.tcbSigning, tcbKeys, root, rootKeys.privateKey, [
    new BasicConstraintsExtension(false, undefined, true),
    leafUsage,
  ]);
  const pckKeys = await generate();
  const pck = await issue(SimNames.pck, pckKeys, pckCa, pckCaKeys.privateKey, [
    new BasicConstraintsExtension(false, undefined, true),
    leafUsage,
    new Extension(SGX_EXTENSION_OID, false, sgxPckExtension(platform)),
  ]);
  return {
    rootCa: await pair(root, rootKeys),
    pckCa: await pair(pckCa, pckCaKeys),
    tcbSigning: await pair(tcbSigning, tcbKeys),
    pck: await pair(pck, pckKeys),
  };
}

/** A DER CRL issued by `issuer` listing `serials` (hex), current from `thisUpdate` to `nextUpdate`. */
export async function signCrl(
  issuer: SimCertKey,
  issuerSubject: string,
  serials: readonly string[],
  thisUpdate: Date,
  nextUpdate: Date,
): Promise<Uint8Array> {
  const crl = await X509CrlGenerator.create({
    issuer: issuerSubject,
    thisUpdate,
    nextUpdate,
    signingAlgorithm: SIGNING,
    signingKey: await signingKey(issuer.key),
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: thisUpdate })),
  });
  return new Uint8Array(crl.rawData);
}
