/**
 * DCAP quote verification (SGX v3, TDX v4), following Intel's QVL: PCK chain to the pinned root with
 * CRLs, signed TCB info and QE identity in their validity windows, QE report signed by the PCK key and
 * binding the attestation key, quote signed by that key, then the TCB status from the matched levels.
 * The verification time is a parameter, so evidence can be judged as of a given date.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { X509Certificate } from '@peculiar/x509';
import { FormatError, bytesEqual, concat, fromHex, toHex } from './bytes.ts';
import { parseCollateral, parseQeIdentity, parseTcbInfo } from './collateral.ts';
import type { TcbInfo, QeIdentity } from './collateral.ts';
import { VerificationError } from './errors.ts';
import type { VerificationErrorCode } from './errors.ts';
import { SGX_EXTENSION_OID, parsePckExtension } from './pck-extension.ts';
import type { PckExtension } from './pck-extension.ts';
import { parseQuote } from './quote.ts';
import type { Quote } from './quote.ts';
import { INTEL_SGX_ROOT_CA_DER_BASE64 } from './roots/intel-sgx-root-ca.ts';
import { convergeTcb, maskedEqual, matchIdentityTcb, matchPlatformTcb, matchTdxModule } from './tcb.ts';
import type { TcbVerdict } from './tcb.ts';
import {
  checkRevocation,
  parseCert,
  parseCrlHex,
  parsePemChain,
  publicKeyOf,
  verifyChain,
  verifyCrl,
} from './x509-chain.ts';

/** Intel SGX Root CA, DER. */
export const INTEL_SGX_ROOT_CA_DER: Uint8Array = Uint8Array.from(
  Buffer.from(INTEL_SGX_ROOT_CA_DER_BASE64, 'base64'),
);

export interface DcapVerifyOptions {
  /** Collateral: a `Collateral` (collateral.ts) or parsed JSON of that shape (checked before use). */
  collateral: unknown;
  /** Verification time; defaults to now. */
  at?: Date;
  /** Trust anchor (DER); defaults to Intel's SGX Root CA. Pass the sim root only when sim evidence is wanted. */
  trustedRoot?: Uint8Array;
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

/** ECDSA P-256 / SHA-256 check of a raw r || s signature. */
function p256Verify(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** A raw P-256 public key (x || y) as a KeyObject; an invalid point is a signature failure. */
function rawP256Key(xy: Uint8Array): KeyObject {
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(xy.subarray(0, 32)).toString('base64url'),
        y: Buffer.from(xy.subarray(32, 64)).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    throw new VerificationError('quote-signature', 'the attestation key is not a valid P-256 point');
  }
}

function checkWindow(
  issueDate: Date,
  nextUpdate: Date,
  at: Date,
  code: VerificationErrorCode,
  what: string,
): void {
  if (at < issueDate || at > nextUpdate) {
    throw new VerificationError(
      code,
      `${what} is valid ${issueDate.toISOString()}..${nextUpdate.toISOString()}, not at ${at.toISOString()}`,
    );
  }
}

/** Verifies a signed collateral document (TCB info, QE identity): issuer chain, revocation, signature. */
async function verifySignedJson(
  text: string,
  signatureHex: string,
  chainPem: string,
  root: X509Certificate,
  crls: Parameters<typeof checkRevocation>[1],
  at: Date,
  code: VerificationErrorCode,
  what: string,
): Promise<void> {
  const chain = await verifyChain(
    parsePemChain(chainPem, `${what} issuer chain`),
    root,
    at,
    `${what} issuer chain`,
  );
  checkRevocation(chain, crls, `${what} issuer chain`);
  let signature: Uint8Array;
  try {
    signature = fromHex(signatureHex);
  } catch {
    throw new FormatError('bad-collateral', `${what} signature is not hex`);
  }
  if (
    signature.length !== 64 ||
    !p256Verify(publicKeyOf(chain[0]), new TextEncoder().encode(text), signature)
  ) {
    throw new VerificationError(code, `${what} signature does not verify`);
  }
}

/** Verifies a DCAP quote against collateral; throws `FormatError` or `VerificationError`. */
export async function verifyDcapQuote(
  quoteBytes: Uint8Array,
  options: DcapVerifyOptions,
): Promise<DcapVerdict> {
  const at = options.at ?? new Date();
  const quote = parseQuote(quoteBytes);
  const collateral = parseCollateral(options.collateral);
  const root = parseCert(options.trustedRoot ?? INTEL_SGX_ROOT_CA_DER, 'trusted root');

  // PCK chain from the quote, then the CRLs: the root's for the intermediates, the PCK CA's for the PCK.
  const pckChain = await verifyChain(
    parsePemChain(quote.certification.pckChainPem, 'PCK chain'),
    root,
    at,
    'PCK chain',
  );
  const rootCrl = parseCrlHex(collateral.root_ca_crl, 'root CA CRL');
  await verifyCrl(rootCrl, root, at, 'root CA CRL');
  const pckCrl = parseCrlHex(collateral.pck_crl, 'PCK CRL');
  await verifyCrl(pckCrl, pckChain[1], at, 'PCK CRL');
  const crlChain = await verifyChain(
    parsePemChain(collateral.pck_crl_issuer_chain, 'PCK CRL issuer chain'),
    root,
    at,
    'PCK CRL issuer chain',
  );
  checkRevocation(crlChain, [rootCrl], 'PCK CRL issuer chain');
  checkRevocation(pckChain, [rootCrl, pckCrl], 'PCK chain');
  const pckLeaf = pckChain[0];
  const sgxExt = pckLeaf.getExtension(SGX_EXTENSION_OID);
  if (sgxExt === null) throw new FormatError('bad-pck-extension', 'PCK certificate has no SGX extension');
  const pck = parsePckExtension(new Uint8Array(sgxExt.value));

  // TCB info.
  await verifySignedJson(
    collateral.tcb_info,
    collateral.tcb_info_signature,
    collateral.tcb_info_issuer_chain,
    root,
    [rootCrl],
    at,
    'tcb-info-signature',
    'TCB info',
  );
  const tcbInfo = parseTcbInfo(collateral.tcb_info);
  checkWindow(tcbInfo.issueDate, tcbInfo.nextUpdate, at, 'tcb-info-expired', 'TCB info');
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

  // QE identity.
  await verifySignedJson(
    collateral.qe_identity,
    collateral.qe_identity_signature,
    collateral.qe_identity_issuer_chain,
    root,
    [rootCrl],
    at,
    'qe-identity-signature',
    'QE identity',
  );
  const qeIdentity = parseQeIdentity(collateral.qe_identity);
  checkWindow(qeIdentity.issueDate, qeIdentity.nextUpdate, at, 'qe-identity-expired', 'QE identity');
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

  if (!p256Verify(rawP256Key(quote.attestationKey), quote.signedData, quote.signature)) {
    throw new VerificationError(
      'quote-signature',
      'quote signature does not verify with the attestation key',
    );
  }

  // TCB status: platform level, then the QE's and (TDX) the module's.
  const level = matchPlatformTcb(tcbInfo, pck, quote.kind === 'tdx' ? quote.body.teeTcbSvn : undefined);
  const platformStatus: TcbVerdict = { status: level.tcbStatus, advisoryIds: level.advisoryIds };
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
  return { status: level.tcbStatus, advisoryIds: level.advisoryIds };
}
