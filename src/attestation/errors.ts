/** Evidence that parsed but does not verify; `code` names the exact check that failed. */
export class VerificationError extends Error {
  override name = 'VerificationError';
  constructor(
    readonly code: VerificationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type VerificationErrorCode =
  | 'untrusted-root'
  | 'chain-incomplete'
  | 'cert-signature'
  | 'cert-expired'
  | 'cert-not-ca'
  | 'cert-revoked'
  | 'crl-missing'
  | 'crl-issuer'
  | 'crl-signature'
  | 'crl-expired'
  | 'tcb-info-signature'
  | 'tcb-info-expired'
  | 'tcb-info-fmspc'
  | 'tcb-info-type'
  | 'qe-identity-signature'
  | 'qe-identity-expired'
  | 'qe-identity-type'
  | 'qe-identity-mismatch'
  | 'qe-tcb-not-found'
  | 'qe-report-signature'
  | 'attestation-key-not-bound'
  | 'quote-signature'
  | 'tcb-level-not-found'
  | 'tdx-module-mismatch'
  | 'tcb-status-unknown'
  | 'tcb-revoked'
  | 'report-signature'
  | 'vcek-mismatch'
  /** VM evidence (tdx/snp backends) that does not bind the expected enclave and report data. */
  | 'report-data-mismatch'
  | 'rtmr-mismatch'
  | 'debug-enclave';
