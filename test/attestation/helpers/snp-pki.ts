/**
 * Test-only SEV-SNP issuer: an ARK/ASK pair (RSA-PSS, SHA-384, as AMD's), a P-384 VCEK with AMD's
 * TCB and hwID extensions, an ARK-signed CRL, and signed attestation reports.
 */
import { createPrivateKey, sign } from 'node:crypto';
import {
  BasicConstraintsExtension,
  Extension,
  X509CertificateGenerator,
  X509CrlGenerator,
} from '@peculiar/x509';
import type { X509Certificate } from '@peculiar/x509';

const PSS = { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 };
const AMD = '1.3.6.1.4.1.3704.1';
export const SNP_AT = new Date('2025-06-01T00:00:00Z');
const validity = { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2026-01-01T00:00:00Z') };

export interface SnpTcbSpl {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpPkiOptions {
  /** SPLs in the VCEK (default bootloader 3, TEE 0, SNP 8, microcode 115). */
  vcekTcb?: SnpTcbSpl;
  /** REPORTED_TCB in the report (default: the VCEK's). */
  reportTcb?: SnpTcbSpl;
  vcekChipId?: Uint8Array;
  reportChipId?: Uint8Array;
  revokeAsk?: boolean;
  /** REPORT_DATA (default 64 × 0xdd). */
  reportData?: Uint8Array;
  /** Guest POLICY (default 0x30000: no debugging). */
  policy?: bigint;
}

export interface SnpPki {
  arkPem: string;
  askPem: string;
  vcek: Uint8Array;
  crl: Uint8Array;
  report: Uint8Array;
}

const pem = (c: X509Certificate): string => c.toString('pem') + '\n';
const int = (n: number): Uint8Array<ArrayBuffer> => Uint8Array.from(n >= 0x80 ? [2, 2, 0, n] : [2, 1, n]);

function tcbValue(t: SnpTcbSpl): bigint {
  return BigInt(t.bootloader) | (BigInt(t.tee) << 8n) | (BigInt(t.snp) << 48n) | (BigInt(t.microcode) << 56n);
}

async function rsaKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(
    { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-384' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
}

/** Issues a chain and one signed report, altered by `o`. */
export async function makeSnpPki(o: SnpPkiOptions = {}): Promise<SnpPki> {
  const vcekTcb = o.vcekTcb ?? { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
  const chipId = new Uint8Array(64).fill(0xc1);
  const arkKeys = await rsaKeys();
  const ark = await X509CertificateGenerator.createSelfSigned({
    ...validity,
    serialNumber: '01',
    name: 'CN=Test ARK',
    keys: arkKeys,
    signingAlgorithm: PSS,
    extensions: [new BasicConstraintsExtension(true, undefined, true)],
  });
  const askKeys = await rsaKeys();
  const ask = await X509CertificateGenerator.create({
    ...validity,
    serialNumber: '02',
    subject: 'CN=Test ASK',
    issuer: ark.subject,
    publicKey: askKeys.publicKey,
    signingKey: arkKeys.privateKey,
    signingAlgorithm: PSS,
    extensions: [new BasicConstraintsExtension(true, 0, true)],
  });
  const vcekKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const spl = (n: number, v: number): Extension => new Extension(`${AMD}.3.${n}`, false, int(v));
  const vcek = await X509CertificateGenerator.create({
    ...validity,
    serialNumber: '03',
    subject: 'CN=Test VCEK',
    issuer: ask.subject,
    publicKey: vcekKeys.publicKey,
    signingKey: askKeys.privateKey,
    signingAlgorithm: PSS,
    extensions: [
      spl(1, vcekTcb.bootloader),
      spl(2, vcekTcb.tee),
      spl(3, vcekTcb.snp),
      spl(8, vcekTcb.microcode),
      new Extension(`${AMD}.4`, false, Uint8Array.from(o.vcekChipId ?? chipId)),
    ],
  });
  const crl = await X509CrlGenerator.create({
    issuer: ark.subject,
    thisUpdate: validity.notBefore,
    nextUpdate: validity.notAfter,
    signingAlgorithm: PSS,
    signingKey: arkKeys.privateKey,
    entries: [{ serialNumber: o.revokeAsk ? '02' : '77', revocationDate: validity.notBefore }],
  });

  const report = new Uint8Array(0x4a0);
  const v = new DataView(report.buffer);
  v.setUint32(0, 2, true);
  v.setBigUint64(8, o.policy ?? 0x30000n, true);
  v.setUint32(0x34, 1, true);
  v.setBigUint64(0x38, tcbValue(vcekTcb), true);
  report.set(o.reportData ?? new Uint8Array(64).fill(0xdd), 0x50);
  v.setBigUint64(0x180, tcbValue(o.reportTcb ?? vcekTcb), true);
  report.set(o.reportChipId ?? chipId, 0x1a0);
  const key = createPrivateKey({
    key: Buffer.from(await crypto.subtle.exportKey('pkcs8', vcekKeys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  });
  const rs = sign('sha384', report.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' });
  report.set(Uint8Array.from(rs.subarray(0, 48)).reverse(), 0x2a0);
  report.set(Uint8Array.from(rs.subarray(48)).reverse(), 0x2a0 + 72);
  return {
    arkPem: pem(ark),
    askPem: pem(ask),
    vcek: new Uint8Array(vcek.rawData),
    crl: new Uint8Array(crl.rawData),
    report,
  };
}
