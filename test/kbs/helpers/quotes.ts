/**
 * Test-only quote issuer for the KBS and RA-TLS tests: an Intel-format PKI with its own root (root CA,
 * PCK CA, PCK certificate with the SGX extension, TCB signer, CRLs, signed TCB info and QE identity,
 * valid from yesterday for a year) and a `quote(fields)` that signs SGX v3 quotes with any report body.
 * Stands in for the sim quoting enclave until it lands.
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
import { verifyDcapCollateral } from '../../../src/attestation/dcap-collateral.ts';
import { dcapEvidenceVerifier } from '../../../src/attestation/evidence.ts';
import type { EvidenceVerifier } from '../../../src/attestation/evidence.ts';
import { sgxExtension } from '../../attestation/helpers/dcap-pki.ts';

const ALG = { name: 'ECDSA', hash: 'SHA-256' };
const EC = { name: 'ECDSA', namedCurve: 'P-256' };
const DAY = 86_400_000;
const QE_MRSIGNER = '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff';
const CPU_SVN = [5, 5, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];

/** The enclave under test's identity. */
export const MRENCLAVE = '11'.repeat(32);
export const MRSIGNER = '22'.repeat(32);

/** Report body fields a test can vary. */
export interface QuoteFields {
  reportData: Uint8Array;
  mrEnclave?: string;
  mrSigner?: string;
  isvProdId?: number;
  isvSvn?: number;
  debug?: boolean;
}

export interface QuoteIssuer {
  rootDer: Uint8Array;
  collateral: Collateral;
  /** Signs an SGX v3 quote with these body fields. */
  quote(fields: QuoteFields): Uint8Array;
  /** A verifier trusting this issuer's root. */
  verifier: EvidenceVerifier;
}

const keys = async (): Promise<CryptoKeyPair> =>
  (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
const nodeKey = async (k: CryptoKey): Promise<KeyObject> =>
  createPrivateKey({
    key: Buffer.from(await crypto.subtle.exportKey('pkcs8', k)),
    format: 'der',
    type: 'pkcs8',
  });
const pem = (cert: X509Certificate): string => cert.toString('pem') + '\n';
const p256 = (key: KeyObject, data: Uint8Array): Buffer =>
  sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });

/** Issues a PKI valid now and returns the quote signer. */
export async function makeQuoteIssuer(): Promise<QuoteIssuer> {
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + 365 * DAY);
  const validity = { notBefore, notAfter, signingAlgorithm: ALG };
  const fmspc = '00906ed50000';
  const rootKeys = await keys();
  const root = await X509CertificateGenerator.createSelfSigned({
    ...validity,
    serialNumber: '01',
    name: 'CN=Cloister KBS Test Root CA, O=Cloister Tests',
    keys: rootKeys,
    extensions: [new BasicConstraintsExtension(true, 1, true)],
  });
  const issue = (
    serial: string,
    subject: string,
    k: CryptoKeyPair,
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
      publicKey: k.publicKey,
      signingKey: issuerKey,
      extensions: [new BasicConstraintsExtension(ca, ca ? 0 : undefined, true), ...extra],
    });
  const pckCaKeys = await keys();
  const pckCa = await issue('02', 'CN=Test PCK Processor CA', pckCaKeys, true, root, rootKeys.privateKey);
  const tcbKeys = await keys();
  const tcbSigner = await issue('03', 'CN=Test TCB Signing', tcbKeys, false, root, rootKeys.privateKey);
  const pckKeys = await keys();
  const pck = await issue('0a0b', 'CN=Test PCK Certificate', pckKeys, false, pckCa, pckCaKeys.privateKey, [
    new Extension(
      '1.2.840.113741.1.13.1',
      false,
      new Uint8Array(sgxExtension({ fmspc, cpuSvn: CPU_SVN, pceSvn: 13 })),
    ),
  ]);
  const crl = (issuer: X509Certificate, key: CryptoKey) =>
    X509CrlGenerator.create({
      issuer: issuer.subject,
      thisUpdate: notBefore,
      nextUpdate: notAfter,
      signingAlgorithm: ALG,
      signingKey: key,
      entries: [{ serialNumber: '77', revocationDate: notBefore }],
    });
  const rootCrl = await crl(root, rootKeys.privateKey);
  const pckCrl = await crl(pckCa, pckCaKeys.privateKey);
  const tcbInfo = JSON.stringify({
    id: 'SGX',
    version: 3,
    issueDate: notBefore.toISOString(),
    nextUpdate: notAfter.toISOString(),
    fmspc: fmspc.toUpperCase(),
    pceId: '0000',
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tcbLevels: [
      {
        tcb: { sgxtcbcomponents: CPU_SVN.map((svn) => ({ svn })), pcesvn: 13 },
        tcbDate: '2024-03-13T00:00:00Z',
        tcbStatus: 'UpToDate',
      },
    ],
  });
  const qeIdentity = JSON.stringify({
    id: 'QE',
    version: 2,
    issueDate: notBefore.toISOString(),
    nextUpdate: notAfter.toISOString(),
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: QE_MRSIGNER.toUpperCase(),
    isvprodid: 1,
    tcbLevels: [{ tcb: { isvsvn: 8 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }],
  });
  const tcbKey = await nodeKey(tcbKeys.privateKey);
  const chainPem = (leaf: X509Certificate): string => pem(leaf) + pem(root);

  // One attestation key, certified once by a QE report signed with the PCK key.
  const att = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = att.publicKey.export({ format: 'jwk' });
  const xy = Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const qeAuthData = new Uint8Array(32).fill(7);
  const qeReportData = new Uint8Array(64);
  qeReportData.set(createHash('sha256').update(xy).update(qeAuthData).digest());
  const qeReport = encodeSgxReportBody({
    mrSigner: fromHex(QE_MRSIGNER),
    isvProdId: 1,
    isvSvn: 8,
    attributes: fromHex('11000000000000000700000000000000'),
    reportData: qeReportData,
  });
  const qeReportSignature = p256(await nodeKey(pckKeys.privateKey), qeReport);
  const pckChainPem = pem(pck) + pem(pckCa) + pem(root);
  const header: QuoteHeader = {
    version: 3,
    attestationKeyType: 2,
    teeType: 0,
    qeSvn: 8,
    pceSvn: 13,
    qeVendorId: fromHex(INTEL_QE_VENDOR_ID),
    userData: new Uint8Array(20),
  };
  const collateral: Collateral = {
    pck_crl_issuer_chain: chainPem(pckCa),
    root_ca_crl: Buffer.from(rootCrl.rawData).toString('hex'),
    pck_crl: Buffer.from(pckCrl.rawData).toString('hex'),
    tcb_info_issuer_chain: chainPem(tcbSigner),
    tcb_info: tcbInfo,
    tcb_info_signature: p256(tcbKey, Buffer.from(tcbInfo)).toString('hex'),
    qe_identity_issuer_chain: chainPem(tcbSigner),
    qe_identity: qeIdentity,
    qe_identity_signature: p256(tcbKey, Buffer.from(qeIdentity)).toString('hex'),
  };
  const rootDer = new Uint8Array(root.rawData);
  const quote = (f: QuoteFields): Uint8Array => {
    const body = encodeSgxReportBody({
      // FLAGS: INIT | MODE64BIT, plus DEBUG on request.
      attributes: fromHex(f.debug ? '07000000000000000700000000000000' : '05000000000000000700000000000000'),
      mrEnclave: fromHex(f.mrEnclave ?? MRENCLAVE),
      mrSigner: fromHex(f.mrSigner ?? MRSIGNER),
      isvProdId: f.isvProdId ?? 1,
      isvSvn: f.isvSvn ?? 3,
      reportData: f.reportData,
    });
    return encodeQuote({
      header,
      body,
      signature: p256(att.privateKey, quoteSignedData(header, body)),
      attestationKey: xy,
      qeReport,
      qeReportSignature,
      qeAuthData,
      pckChainPem,
    });
  };
  // Collateral verified once, as a KBS would cache it.
  const verified = await verifyDcapCollateral(collateral, { trustedRoot: rootDer });
  return {
    rootDer,
    collateral,
    quote,
    verifier: dcapEvidenceVerifier({ collateral: verified, trustedRoot: rootDer }),
  };
}
