/**
 * Verifies the evidence of an enclave run by the `tdx` or `snp` backend (cvm-binding.ts): the VM's
 * TDX quote (DCAP, Intel's root unless told otherwise) or SNP report (AMD's ARK unless told
 * otherwise), then that its report data binds the expected MRENCLAVE and enclave report data, and
 * that the VM is not a debug VM. On TDX, an RTMR event log, when given, must replay to the quoted
 * RTMR and name the enclave. Sim evidence is never accepted here: it is neither a TDX quote under
 * Intel's root nor an SNP report under AMD's.
 */
import { bytesEqual, toHex } from './bytes.ts';
import { isCvmBinding, rtmrEventDigest, rtmrReplay } from './cvm-binding.ts';
import { VerificationError } from './errors.ts';
import { TD_ATTRIBUTE_DEBUG } from './report-body.ts';
import { SNP_POLICY_DEBUG } from './snp-report.ts';
import { verifyDcapQuote } from './verify-dcap.ts';
import type { DcapVerdict, DcapVerifyOptions } from './verify-dcap.ts';
import { verifySnpReport } from './verify-snp.ts';
import type { SnpVerdict, SnpVerifyOptions } from './verify-snp.ts';

/** What the enclave must be and must have bound. */
export interface CvmExpectation {
  mrenclave: Uint8Array;
  /** The enclave's own 64 bytes of report data (a nonce and key hash). */
  reportData: Uint8Array;
  /** Accept a debug VM (its memory is readable by the host): false by default. */
  allowDebug?: boolean;
}

export interface TdxEvidenceOptions extends DcapVerifyOptions {
  /** RTMR the backend extends (default 3), and the event digests extended into it since boot. */
  rtmrIndex?: 2 | 3;
  rtmrEvents?: readonly Uint8Array[];
}

export type CvmVerdict = { kind: 'tdx'; verdict: DcapVerdict } | { kind: 'snp'; verdict: SnpVerdict };

function checkBinding(bound: Uint8Array, expected: CvmExpectation): void {
  if (!isCvmBinding(bound, expected.mrenclave, expected.reportData)) {
    throw new VerificationError(
      'report-data-mismatch',
      `the VM evidence does not bind enclave ${toHex(expected.mrenclave).slice(0, 16)}… with this report data`,
    );
  }
}

/** A TDX quote from the `tdx` backend. */
export async function verifyTdxEnclaveEvidence(
  quote: Uint8Array,
  options: TdxEvidenceOptions,
  expected: CvmExpectation,
): Promise<CvmVerdict> {
  const verdict = await verifyDcapQuote(quote, options);
  if (verdict.quote.kind !== 'tdx')
    throw new VerificationError('tcb-info-type', 'the tdx backend gives TDX quotes, this is SGX');
  const body = verdict.quote.body;
  checkBinding(body.reportData, expected);
  const tdAttributes = new DataView(body.tdAttributes.buffer, body.tdAttributes.byteOffset, 8);
  if (!expected.allowDebug && (tdAttributes.getBigUint64(0, true) & TD_ATTRIBUTE_DEBUG) !== 0n)
    throw new VerificationError('debug-enclave', 'the TD is a debug TD: its host can read it');
  if (options.rtmrEvents !== undefined) {
    const rtmr = body.rtmr[options.rtmrIndex ?? 3];
    if (!bytesEqual(rtmrReplay(options.rtmrEvents), rtmr))
      throw new VerificationError('rtmr-mismatch', 'the RTMR event log does not replay to the quoted RTMR');
    const launched = rtmrEventDigest(expected.mrenclave);
    if (!options.rtmrEvents.some((e) => bytesEqual(e, launched)))
      throw new VerificationError('rtmr-mismatch', 'the RTMR event log has no launch of this enclave');
  }
  return { kind: 'tdx', verdict };
}

/** An SNP report from the `snp` backend. */
export async function verifySnpEnclaveEvidence(
  report: Uint8Array,
  options: SnpVerifyOptions,
  expected: CvmExpectation,
): Promise<CvmVerdict> {
  const verdict = await verifySnpReport(report, options);
  checkBinding(verdict.report.reportData, expected);
  if (!expected.allowDebug && (verdict.report.policy & SNP_POLICY_DEBUG) !== 0n)
    throw new VerificationError(
      'debug-enclave',
      'the SNP guest policy allows debugging: its host can read it',
    );
  return { kind: 'snp', verdict };
}
