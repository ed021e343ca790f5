/**
 * SEV-SNP report verification: ARK (pinned) -> ASK -> VCEK, all RSA-PSS, then the report's ECDSA P-384
 * signature by the VCEK, and the VCEK's TCB and chip id extensions against the report's.
 */
import { verify } from 'node:crypto';
import { FormatError, bytesEqual, concat, reversed } from './bytes.ts';
import { DerTag, derUint, parseDer } from './der.ts';
import { VerificationError } from './errors.ts';
import { AMD_ARK_MILAN_PEM } from './roots/amd-ark-milan.ts';
import { SNP_SIG_ALGO_ECDSA_P384_SHA384, parseSnpReport } from './snp-report.ts';
import type { SnpReport } from './snp-report.ts';
import {
  extensionValue,
  parseCert,
  parseCrl,
  parsePemChain,
  publicKeyOf,
  verifyChain,
  verifyCrl,
} from './x509-chain.ts';

/** AMD's VCEK extensions (KDS spec): TCB component SPLs and the chip's hardware id. */
const AMD_OID = '1.3.6.1.4.1.3704.1';
const VCEK_SPL = {
  bootloader: `${AMD_OID}.3.1`,
  tee: `${AMD_OID}.3.2`,
  snp: `${AMD_OID}.3.3`,
  microcode: `${AMD_OID}.3.8`,
};
const VCEK_HWID = `${AMD_OID}.4`;

export interface SnpVerifyOptions {
  /** The VCEK certificate (DER or PEM). */
  vcek: Uint8Array | string;
  /** PEM bundle with the ASK (and optionally the ARK), as AMD's KDS serves `cert_chain`. */
  caChainPem: string;
  /** Pinned ARK (PEM); defaults to ARK-Milan. */
  trustedArk?: string;
  /** The ARK's CRL (DER, from AMD's KDS `crl` endpoint); when given, the ASK must not be revoked. */
  arkCrl?: Uint8Array;
  /** Verification time; defaults to now. */
  at?: Date;
}

export interface SnpVerdict {
  report: SnpReport;
}

/** A little-endian 72-byte signature component as 48 big-endian bytes (the upper bytes must be zero). */
function component(le: Uint8Array): Uint8Array {
  if (le.subarray(48).some((b) => b !== 0)) {
    throw new VerificationError('report-signature', 'SNP signature component exceeds 384 bits');
  }
  return reversed(le.subarray(0, 48));
}

/** Verifies an SNP attestation report; throws `FormatError` or `VerificationError`. */
export async function verifySnpReport(bytes: Uint8Array, options: SnpVerifyOptions): Promise<SnpVerdict> {
  const at = options.at ?? new Date();
  const report = parseSnpReport(bytes);
  if (report.signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    throw new FormatError('unsupported-signature', `SNP report: signature algorithm ${report.signatureAlgo}`);
  }
  if (((report.keyInfo >> 2) & 7) !== 0) {
    throw new FormatError(
      'unsupported-signature',
      'SNP report: signed by a VLEK, only VCEK chains are supported',
    );
  }
  const ark = parseCert(options.trustedArk ?? AMD_ARK_MILAN_PEM, 'trusted ARK');
  const vcek = parseCert(options.vcek, 'VCEK');
  const chain = await verifyChain(
    [vcek, ...parsePemChain(options.caChainPem, 'ASK/ARK chain')],
    ark,
    at,
    'VCEK chain',
  );
  if (chain.length !== 3)
    throw new VerificationError('chain-incomplete', 'VCEK chain must be VCEK -> ASK -> ARK');
  if (options.arkCrl !== undefined) {
    const crl = parseCrl(options.arkCrl, 'ARK CRL');
    await verifyCrl(crl, ark, at, 'ARK CRL');
    if (crl.revokes(chain[1])) {
      throw new VerificationError('cert-revoked', `ASK "${chain[1].subject}" is revoked by the ARK CRL`);
    }
  }

  const signature = concat(component(report.signatureR), component(report.signatureS));
  const ok = verify(
    'sha384',
    report.signedData,
    { key: publicKeyOf(vcek), dsaEncoding: 'ieee-p1363' },
    signature,
  );
  if (!ok)
    throw new VerificationError('report-signature', 'SNP report signature does not verify with the VCEK');

  checkVcekBinding(extensionValue(vcek, VCEK_HWID), report.chipId, 'chip id');
  for (const [name, oid] of Object.entries(VCEK_SPL) as [keyof typeof VCEK_SPL, string][]) {
    const ext = extensionValue(vcek, oid);
    const der = ext === undefined ? undefined : parseDer(ext);
    if (der?.tag !== DerTag.INTEGER || derUint(der.content) !== report.reportedTcb[name]) {
      throw new VerificationError(
        'vcek-mismatch',
        `VCEK ${name} SPL does not match the report's REPORTED_TCB`,
      );
    }
  }
  return { report };
}

/** The VCEK's hwID extension holds the raw chip id (a report with MASK_CHIP_ID has zeros instead). */
function checkVcekBinding(value: Uint8Array | undefined, chipId: Uint8Array, what: string): void {
  if (chipId.every((b) => b === 0)) return;
  if (value === undefined || !bytesEqual(value, chipId)) {
    throw new VerificationError('vcek-mismatch', `VCEK ${what} does not match the report`);
  }
}
