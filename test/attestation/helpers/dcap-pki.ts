/**
 * Test-only DCAP issuer: a root CA, PCK CA, PCK certificate with the SGX extension, TCB signing
 * certificate, CRLs, signed TCB info and QE identity, and SGX v3 quotes, all in Intel's formats, so
 * that each verifier check can be failed on purpose.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  BasicConstraintsExtension,
  Extension,
  X509CertificateGenerator,
  X509CrlGenerator,
} from '@peculiar/x509';
import type { X509Certificate } from '@peculiar/x509';
import { fromHex } from '../../../src/attestation/bytes.ts';
import type { Collateral } from '../../../src/attestation/collateral.ts';
import { INTEL_QE_VENDOR_ID } from '../../../src/attestation/quote.ts';
import type { QuoteHeader } from '../../../src/attestation/quote.ts';
import { encodeQuote, quoteSignedData } from '../../../src/attestation/quote-encode.ts';
import { encodeSgxReportBody } from '../../../src/attestation/report-body.ts';

const ALG = { name: 'ECDSA', hash: 'SHA-256' };
const EC = { name: 'ECDSA', namedCurve: 'P-256' };

// DER encoding for the SGX extension.
function tlv(tag: number, content: Uint8Array): Uint8Array {
  const len = content.length;
  const head = len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
  return Uint8Array.from([tag, ...head, ...content]);
}
function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a * 40 + b];
  for (const arc of rest) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Uint8Array.from(out));
}
const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, Uint8Array.from(parts.flatMap((p) => [...p])));
const int = (n: number): Uint8Array => tlv(0x02, Uint8Array.from(n >= 0x80 ? [0, n] : [n]));
const pair = (o: string, v: Uint8Array): Uint8Array => seq(oid(o), v);

const SGX = '1.2.840.113741.1.13.1';

/** The DER value of an SGX PCK extension. */
export function sgxExtension(p: {
  fmspc: string;
  cpuSvn: number[];
  pceSvn: number;
  pceId?: string;
}): Uint8Array {
  const tcb = seq(
    ...p.cpuSvn.map((svn, i) => pair(`${SGX}.2.${i + 1}`, int(svn))),
    pair(`${SGX}.2.17`, int(p.pceSvn)),
    pair(`${SGX}.2.18`, tlv(0x04, Uint8Array.from(p.cpuSvn))),
  );
  return seq(
    pair(`${SGX}.1`, tlv(0x04, new Uint8Array(16).fill(0xaa))),
    pair(`${SGX}.2`, tcb),
    pair(`${SGX}.3`, tlv(0x04, Buffer.from(p.pceId ?? '0000', 'hex'))),
    pair(`${SGX}.4`, tlv(0x04, Buffer.from(p.fmspc, 'hex'))),
    pair(`${SGX}.5`, tlv(0x0a, Uint8Array.from([0]))),
  );
}

/** Everything that can be varied to make one check fail. */
export interface PkiOptions {
  rootName?: string;
  fmspc?: string;
  tcbInfoFmspc?: string;
  cpuSvn?: number[];
  pceSvn?: number;
  revokePck?: boolean;
  tcbIssue?: Date;
  tcbNextUpdate?: Date;
  tcbLevels?: object[];
  qeMrSigner?: string;
  qeIdentityMrSigner?: string;
  qeIsvProdId?: number;
  qeAttributes?: string;
  qeIsvSvn?: number;
  /** Bind a different key than the one that signs the quote. */
  unboundAttestationKey?: boolean;
  /** Issue the PCK CA without the CA flag. */
  pckCaNotCa?: boolean;
  /** The root's pathLenConstraint (default 1). */
  rootPathLength?: number;
  /** When every certificate, CRL and signed body is valid (default VALID_FROM to VALID_TO). */
  validFrom?: Date;
  validTo?: Date;
}

export const VALID_FROM = new Date('2025-01-01T00:00:00Z');
export const VALID_TO = new Date('2026-01-01T00:00:00Z');
export const AT = new Date('2025-06-01T00:00:00Z');

async function keys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function nodeKey(k: CryptoKey): Promise<KeyObject> {
  return createPrivateKey({
    key: Buffer.from(await crypto.subtle.exportKey('pkcs8', k)),
    format: 'der',
    type: 'pkcs8',
  });
}

function pem(cert: X509Certificate): string {
  return cert.toString('pem') + '\n';
}

function p256(key: KeyObject, data: Uint8Array): Buffer {
  return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

const DEFAULT_CPU_SVN = [5, 5, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];

// Levels judged against the default platform: an up-to-date top level, an out-of-date floor.
const DEFAULT_LEVELS = (cpu: number[], pce: number): object[] => [
  {
    tcb: { sgxtcbcomponents: cpu.map((svn) => ({ svn })), pcesvn: pce },
    tcbDate: '2024-03-13T00:00:00Z',
    tcbStatus: 'UpToDate',
  },
  {
    tcb: { sgxtcbcomponents: cpu.map(() => ({ svn: 0 })), pcesvn: 0 },
    tcbDate: '2020-01-01T00:00:00Z',
    tcbStatus: 'OutOfDate',
    advisoryIDs: ['INTEL-SA-00001'],
  },
];

export interface TestPki {
  root: X509Certificate;
  rootDer: Uint8Array;
  /** A quote of `body` signed by this PKI's attestation key, certified by its QE report. */
  signQuote(body: Uint8Array): Uint8Array;
  /** A quote of a fixed enclave (MRENCLAVE 11…, MRSIGNER 22…). */
  quote: Uint8Array;
  collateral: Collateral;
}

/** Issues a complete, valid-at-`AT` set of evidence and collateral, altered by `o`. */
export async function makePki(o: PkiOptions = {}): Promise<TestPki> {
  const validFrom = o.validFrom ?? VALID_FROM;
  const validTo = o.validTo ?? VALID_TO;
  const cpuSvn = o.cpuSvn ?? DEFAULT_CPU_SVN;
  const pceSvn = o.pceSvn ?? 13;
  const fmspc = o.fmspc ?? '00906ed50000';
  const validity = { notBefore: validFrom, notAfter: validTo, signingAlgorithm: ALG };
  const rootKeys = await keys();
  const root = await X509CertificateGenerator.createSelfSigned({
    ...validity,
    serialNumber: '01',
    name: o.rootName ?? 'CN=Test SGX Root CA, O=Cloister Tests',
    keys: rootKeys,
    extensions: [new BasicConstraintsExtension(true, o.rootPathLength ?? 1, true)],
  });
  const issue = async (
    serial: string,
    subject: string,
    subjectKeys: CryptoKeyPair,
    ca: boolean,
    issuer: X509Certificate,
    issuerKey: CryptoKey,
    extra: Extension[] = [],
  ): Promise<X509Certificate> =>
    X509CertificateGenerator.create({
      ...validity,
      serialNumber: serial,
      subject,
      issuer: issuer.subject,
      publicKey: subjectKeys.publicKey,
      signingKey: issuerKey,
      extensions: [new BasicConstraintsExtension(ca, ca ? 0 : undefined, true), ...extra],
    });
  const pckCaKeys = await keys();
  const pckCa = await issue(
    '02',
    'CN=Test SGX PCK Processor CA, O=Cloister Tests',
    pckCaKeys,
    !o.pckCaNotCa,
    root,
    rootKeys.privateKey,
  );
  const tcbKeys = await keys();
  const tcbSigner = await issue(
    '03',
    'CN=Test SGX TCB Signing, O=Cloister Tests',
    tcbKeys,
    false,
    root,
    rootKeys.privateKey,
  );
  const pckKeys = await keys();
  const pck = await issue(
    '0a0b',
    'CN=Test SGX PCK Certificate, O=Cloister Tests',
    pckKeys,
    false,
    pckCa,
    pckCaKeys.privateKey,
    [new Extension(SGX, false, new Uint8Array(sgxExtension({ fmspc, cpuSvn, pceSvn })))],
  );
  const crl = (issuer: X509Certificate, key: CryptoKey, serials: string[]) =>
    X509CrlGenerator.create({
      issuer: issuer.subject,
      thisUpdate: validFrom,
      nextUpdate: validTo,
      signingAlgorithm: ALG,
      signingKey: key,
      entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: validFrom })),
    });
  const rootCrl = await crl(root, rootKeys.privateKey, ['77']);
  const pckCrl = await crl(pckCa, pckCaKeys.privateKey, o.revokePck ? ['0a0b'] : ['0c0d']);

  const tcbInfo = JSON.stringify({
    id: 'SGX',
    version: 3,
    issueDate: (o.tcbIssue ?? validFrom).toISOString(),
    nextUpdate: (o.tcbNextUpdate ?? validTo).toISOString(),
    fmspc: (o.tcbInfoFmspc ?? fmspc).toUpperCase(),
    pceId: '0000',
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tcbLevels: o.tcbLevels ?? DEFAULT_LEVELS(DEFAULT_CPU_SVN, 13),
  });
  const qeMrSigner = o.qeMrSigner ?? '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff';
  const qeIdentity = JSON.stringify({
    id: 'QE',
    version: 2,
    issueDate: validFrom.toISOString(),
    nextUpdate: validTo.toISOString(),
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: (o.qeIdentityMrSigner ?? qeMrSigner).toUpperCase(),
    isvprodid: 1,
    tcbLevels: [
      { tcb: { isvsvn: 8 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
      {
        tcb: { isvsvn: 6 },
        tcbDate: '2021-11-10T00:00:00Z',
        tcbStatus: 'OutOfDate',
        advisoryIDs: ['INTEL-SA-00615'],
      },
    ],
  });
  const tcbKey = await nodeKey(tcbKeys.privateKey);
  const chainPem = (leaf: X509Certificate): string => pem(leaf) + pem(root);

  // The quote.
  const att = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = att.publicKey.export({ format: 'jwk' });
  const xy = Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const bound = o.unboundAttestationKey ? Buffer.alloc(64, 1) : xy;
  const qeAuthData = new Uint8Array(32).fill(7);
  const reportData = new Uint8Array(64);
  reportData.set(createHash('sha256').update(bound).update(qeAuthData).digest());
  const qeReport = encodeSgxReportBody({
    mrSigner: fromHex(qeMrSigner),
    isvProdId: o.qeIsvProdId ?? 1,
    isvSvn: o.qeIsvSvn ?? 8,
    attributes: fromHex(o.qeAttributes ?? '11000000000000000700000000000000'),
    reportData,
  });
  const header: QuoteHeader = {
    version: 3,
    attestationKeyType: 2,
    teeType: 0,
    qeSvn: 8,
    pceSvn: 13,
    qeVendorId: fromHex(INTEL_QE_VENDOR_ID),
    userData: new Uint8Array(20),
  };
  const body = encodeSgxReportBody({
    attributes: fromHex('05000000000000000700000000000000'),
    mrEnclave: new Uint8Array(32).fill(0x11),
    mrSigner: new Uint8Array(32).fill(0x22),
    reportData: new Uint8Array(64).fill(9),
  });
  const qeReportSignature = p256(await nodeKey(pckKeys.privateKey), qeReport);
  const pckChainPem = pem(pck) + pem(pckCa) + pem(root);
  const signQuote = (quoteBody: Uint8Array): Uint8Array =>
    encodeQuote({
      header,
      body: quoteBody,
      signature: p256(att.privateKey, quoteSignedData(header, quoteBody)),
      attestationKey: xy,
      qeReport,
      qeReportSignature,
      qeAuthData,
      pckChainPem,
    });
  return {
    root,
    rootDer: new Uint8Array(root.rawData),
    signQuote,
    quote: signQuote(body),
    collateral: {
      pck_crl_issuer_chain: chainPem(pckCa),
      root_ca_crl: Buffer.from(rootCrl.rawData).toString('hex'),
      pck_crl: Buffer.from(pckCrl.rawData).toString('hex'),
      tcb_info_issuer_chain: chainPem(tcbSigner),
      tcb_info: tcbInfo,
      tcb_info_signature: p256(tcbKey, Buffer.from(tcbInfo)).toString('hex'),
      qe_identity_issuer_chain: chainPem(tcbSigner),
      qe_identity: qeIdentity,
      qe_identity_signature: p256(tcbKey, Buffer.from(qeIdentity)).toString('hex'),
    },
  };
}
