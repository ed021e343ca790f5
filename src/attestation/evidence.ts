/**
 * The seam between the KBS (and RA-TLS) and whatever verifies evidence: an `EvidenceVerifier` takes
 * the evidence bytes and the report data they must carry and returns a verdict or throws. The DCAP
 * verifier is wrapped here; a sim platform plugs in the same way with its own root.
 */
import { FormatError, bytesEqual, toHex } from './bytes.ts';
import { VerificationError } from './errors.ts';
import { sgxAttributeFlags, SgxAttributeFlags, TD_ATTRIBUTE_DEBUG } from './report-body.ts';
import { verifyDcapQuote } from './verify-dcap.ts';
import type { DcapVerdict } from './verify-dcap.ts';

/** A verified piece of evidence. */
export type Verdict = DcapVerdict;

/**
 * Verifies `evidence` and that its report data equals `expectedReportData`; throws
 * (`FormatError`, `VerificationError`, or any Error) when it does not.
 */
export type EvidenceVerifier = (
  evidence: Uint8Array,
  expectedReportData: Uint8Array,
) => Promise<Verdict> | Verdict;

/** What a policy judges and what an attestation token carries: the verdict, flattened to JSON. */
export interface Claims {
  tee: 'sgx' | 'tdx';
  /** TCB status after convergence (`UpToDate`, `SWHardeningNeeded`, ...). */
  tcbStatus: string;
  advisoryIds: string[];
  /** MRENCLAVE (SGX) or MRTD (TDX), hex. */
  mrenclave: string;
  /** MRSIGNER (SGX); empty for TDX. */
  mrsigner: string;
  isvprodid: number;
  isvsvn: number;
  debug: boolean;
  reportData: string;
}

/** Flattens a verdict into `Claims`. */
export function claimsOf(verdict: Verdict): Claims {
  const common = { tcbStatus: verdict.status, advisoryIds: [...verdict.advisoryIds] };
  const q = verdict.quote;
  if (q.kind === 'sgx') {
    return {
      tee: 'sgx',
      ...common,
      mrenclave: toHex(q.body.mrEnclave),
      mrsigner: toHex(q.body.mrSigner),
      isvprodid: q.body.isvProdId,
      isvsvn: q.body.isvSvn,
      debug: (sgxAttributeFlags(q.body) & SgxAttributeFlags.DEBUG) !== 0n,
      reportData: toHex(q.body.reportData),
    };
  }
  const tdAttributes = new DataView(q.body.tdAttributes.buffer, q.body.tdAttributes.byteOffset, 8);
  return {
    tee: 'tdx',
    ...common,
    mrenclave: toHex(q.body.mrTd),
    mrsigner: '',
    isvprodid: 0,
    isvsvn: 0,
    debug: (tdAttributes.getBigUint64(0, true) & TD_ATTRIBUTE_DEBUG) !== 0n,
    reportData: toHex(q.body.reportData),
  };
}

/** Options of `dcapEvidenceVerifier`, passed on to `verifyDcapQuote`. */
export interface DcapEvidenceOptions {
  /** Raw collateral JSON object, or the result of `verifyDcapCollateral` (faster: verified once). */
  collateral: unknown;
  /** DER root to trust; Intel's SGX Root CA when absent. A sim root only when the operator says so. */
  trustedRoot?: Uint8Array;
  /** Verification time; now when absent. */
  at?: () => Date;
}

/** An `EvidenceVerifier` for DCAP quotes (SGX v3, TDX v4) that also checks the report data. */
export function dcapEvidenceVerifier(options: DcapEvidenceOptions): EvidenceVerifier {
  return async (evidence, expectedReportData) => {
    const verdict = await verifyDcapQuote(evidence, {
      collateral: options.collateral,
      trustedRoot: options.trustedRoot,
      at: options.at?.(),
    });
    checkReportData(verdict, expectedReportData);
    return verdict;
  };
}

/** Throws `ReportDataMismatch` unless the verdict's report data is `expected`. */
export function checkReportData(verdict: Verdict, expected: Uint8Array): void {
  if (!bytesEqual(verdict.quote.body.reportData, expected)) {
    throw new ReportDataMismatch('the evidence report data does not bind this nonce and public key');
  }
}

/** The evidence is genuine but was made for other data (another nonce, another key). */
export class ReportDataMismatch extends Error {
  override name = 'ReportDataMismatch';
}

/** A short, stable reason for a refused piece of evidence (for logs, audit and problem details). */
export function evidenceFailureReason(error: unknown): string {
  if (error instanceof VerificationError || error instanceof FormatError) {
    return `evidence: ${error.code}: ${error.message}`;
  }
  if (error instanceof ReportDataMismatch) return `report-data: ${error.message}`;
  if (error instanceof Error) return `evidence: ${error.name}: ${error.message}`;
  return `evidence: ${String(error)}`;
}
