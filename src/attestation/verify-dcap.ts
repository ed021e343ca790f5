/**
 * DCAP quote verification (SGX v3, TDX v4), following Intel's QVL: PCK chain to the pinned root with
 * CRLs, signed TCB info and QE identity in their validity windows, QE report signed by the PCK key and
 * binding the attestation key, quote signed by that key, then the TCB status from the matched levels.
 * The verification time is a parameter, so evidence can be judged as of a given date.
 */
import { createHash } from 'node:crypto';
import { FormatError, bytesEqual, concat, toHex } from './bytes.ts';
import type { QeIdentity, TcbInfo } from './collateral.ts';
import { checkCollateralAt, isVerifiedCollateral, verifyDcapCollateral } from './dcap-collateral.ts';
import type { CollateralOptions, VerifiedCollateral } from './dcap-collateral.ts';
import { p256Verify, rawP256Key } from './ecdsa.ts';
import { VerificationError } from './errors.ts';
import { SGX_EXTENSION_OID, parsePckExtension } from './pck-extension.ts';
import type { PckExtension } from './pck-extension.ts';
import { parseQuote } from './quote.ts';
import type { Quote } from './quote.ts';
import {
  convergeTcb,
  levelVerdict,
  maskedEqual,
  matchIdentityTcb,
  matchPlatformTcb,
  matchTdxModule,
} from './tcb.ts';
import type { TcbVerdict } from './tcb.ts';
import { checkRevocation, extensionValue, parsePemChain, publicKeyOf, verifyChain } from './x509-chain.ts';

export { INTEL_SGX_ROOT_CA_DER } from './dcap-collateral.ts';

export interface DcapVerifyOptions extends CollateralOptions {
  /**
   * Collateral: the result of `verifyDcapCollateral` (cached, bound to the root it was verified with;
   * a different `trustedRoot` is refused), or a `Collateral` object / parsed JSON of that shape.
   */
  collateral: VerifiedCollateral | unknown;
}

export interface DcapVerdict extends TcbVerdict {
  quote: Quote;
  pck: PckExtension;
  fmspc: string;
  /** Platform status before the QE / TDX module statuses were folded in. */
  platformStatus: TcbVerdict;
  qeStatus: TcbVerdict;
  tdxModuleStatus?: TcbVerdict;
  tcbInfo: TcbInfo;
  qeIdentity: QeIdentity;
}

/** Verifies a DCAP quote against collateral; throws `FormatError` or `VerificationError`. */
export async function verifyDcapQuote(
  quoteBytes: Uint8Array,
  options: DcapVerifyOptions,
): Promise<DcapVerdict> {
  const at = options.at ?? new Date();
  const quote = parseQuote(quoteBytes);
  const c = isVerifiedCollateral(options.collateral)
    ? options.collateral
    : await verifyDcapCollateral(options.collateral, options);
  if (options.trustedRoot !== undefined && !bytesEqual(options.trustedRoot, c.root.der)) {
    throw new VerificationError('untrusted-root', 'the collateral was verified against another root');
  }
  checkCollateralAt(c, at);

  // PCK chain from the quote to the same root; its CA must be the one whose CRL we hold.
  const pckChain = await verifyChain(
    parsePemChain(quote.certification.pckChainPem, 'PCK chain'),
    c.root,
    at,
    'PCK chain',
  );
  const pckCa = pckChain[1];
  if (!pckCa.subject.equals(c.pckCrlIssuer.subject) || !bytesEqual(pckCa.spki, c.pckCrlIssuer.spki)) {
    throw new VerificationError(
      'crl-issuer',
      `the PCK CRL is from "${c.pckCrl.issuer}", the PCK from "${pckCa.subject}"`,
    );
  }
  checkRevocation(pckChain, [c.rootCrl, c.pckCrl], 'PCK chain');
  const pckLeaf = pckChain[0];
  const sgxExt = extensionValue(pckLeaf, SGX_EXTENSION_OID);
  if (sgxExt === undefined)
    throw new FormatError('bad-pck-extension', 'PCK certificate has no SGX extension');
  const pck = parsePckExtension(sgxExt);

  const { tcbInfo, qeIdentity } = c;
  const expectedId = quote.kind === 'sgx' ? 'SGX' : 'TDX';
  if (tcbInfo.id !== expectedId || (quote.kind === 'tdx' && tcbInfo.version < 3)) {
    throw new VerificationError(
      'tcb-info-type',
      `TCB info is ${tcbInfo.id} v${tcbInfo.version}, quote is ${expectedId}`,
    );
  }
  if (tcbInfo.fmspc.toLowerCase() !== toHex(pck.fmspc) || tcbInfo.pceId.toLowerCase() !== toHex(pck.pceId)) {
    throw new VerificationError(
      'tcb-info-fmspc',
      `TCB info is for FMSPC ${tcbInfo.fmspc} PCE ${tcbInfo.pceId}, the PCK for ${toHex(pck.fmspc)} PCE ${toHex(pck.pceId)}`,
    );
  }
  const expectedQe = quote.kind === 'sgx' ? 'QE' : 'TD_QE';
  if (qeIdentity.id !== expectedQe) {
    throw new VerificationError(
      'qe-identity-type',
      `QE identity is ${qeIdentity.id}, expected ${expectedQe}`,
    );
  }

  // The QE report: signed by the PCK key, and its report data binds the attestation key.
  const { qeReport, qeReportSignature, qeAuthData } = quote.certification;
  if (!p256Verify(publicKeyOf(pckLeaf), qeReport.raw, qeReportSignature)) {
    throw new VerificationError(
      'qe-report-signature',
      'QE report signature does not verify with the PCK key',
    );
  }
  const binding = createHash('sha256').update(concat(quote.attestationKey, qeAuthData)).digest();
  if (!bytesEqual(qeReport.reportData, concat(binding, new Uint8Array(32)))) {
    throw new VerificationError(
      'attestation-key-not-bound',
      'QE report data is not SHA-256(attestation key || QE auth data) || 32 zero bytes',
    );
  }
  const qeStatus = qeIdentityStatus(quote, qeIdentity);

  const attestationKey = rawP256Key(quote.attestationKey);
  if (attestationKey === undefined || !p256Verify(attestationKey, quote.signedData, quote.signature)) {
    throw new VerificationError(
      'quote-signature',
      'quote signature does not verify with the attestation key',
    );
  }

  // TCB status: platform level, then the QE's and (TDX) the module's.
  const level = matchPlatformTcb(tcbInfo, pck, quote.kind === 'tdx' ? quote.body.teeTcbSvn : undefined);
  const platformStatus = levelVerdict(level, 'platform');
  let verdict = convergeTcb(platformStatus, qeStatus);
  const tdxModuleStatus = quote.kind === 'tdx' ? matchTdxModule(tcbInfo, quote.body) : undefined;
  if (tdxModuleStatus !== undefined) verdict = convergeTcb(verdict, tdxModuleStatus);
  if (verdict.status === 'Revoked') {
    throw new VerificationError(
      'tcb-revoked',
      `the platform TCB is revoked (${verdict.advisoryIds.join(', ')})`,
    );
  }
  return {
    ...verdict,
    quote,
    pck,
    fmspc: toHex(pck.fmspc),
    platformStatus,
    qeStatus,
    tdxModuleStatus,
    tcbInfo,
    qeIdentity,
  };
}

/** The QE report must match the QE identity (MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES). */
function qeIdentityStatus(quote: Quote, identity: QeIdentity): TcbVerdict {
  const report = quote.certification.qeReport;
  const misc = new Uint8Array(4);
  new DataView(misc.buffer).setUint32(0, report.miscSelect, true);
  const mismatch = (what: string): never => {
    throw new VerificationError('qe-identity-mismatch', `QE report ${what} does not match the QE identity`);
  };
  if (toHex(report.mrSigner) !== identity.mrsigner.toLowerCase()) mismatch('MRSIGNER');
  if (report.isvProdId !== identity.isvprodid) mismatch('ISVPRODID');
  if (!maskedEqual(misc, identity.miscselect, identity.miscselectMask)) mismatch('MISCSELECT');
  if (!maskedEqual(report.attributes, identity.attributes, identity.attributesMask)) mismatch('ATTRIBUTES');
  const level = matchIdentityTcb(identity.tcbLevels, report.isvSvn);
  if (level === undefined) {
    throw new VerificationError(
      'qe-tcb-not-found',
      `QE ISVSVN ${report.isvSvn} is below every QE identity level`,
    );
  }
  return levelVerdict(level, 'QE');
}
