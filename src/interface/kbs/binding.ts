/**
 * How evidence binds a KBS session: the report data carries SHA-384 over the JCS text of the
 * `runtime-data` object `{"nonce": <challenge nonce>, "tee-pubkey": <the enclave's JWK>}` (as Trustee's
 * attester and attestation service compute it), in the first 48 of the 64 report-data bytes; the other
 * 16 bytes are zero (Trustee pads the digest with zeros to the report-data length).
 * No Node I/O: the enclave side uses this too.
 */
import { sha384 } from '@noble/hashes/sha2.js';
import { canonicalJson } from '../jcs.ts';

/** SGX/TDX report data length. */
export const REPORT_DATA_SIZE = 64;

/** The `runtime-data` member of an Attestation request. */
export interface RuntimeData {
  nonce: string;
  'tee-pubkey': Record<string, unknown>;
}

/** The 64 report-data bytes that bind `runtimeData` to the evidence. */
export function runtimeDataReportData(runtimeData: RuntimeData): Uint8Array {
  const out = new Uint8Array(REPORT_DATA_SIZE);
  out.set(sha384(new TextEncoder().encode(canonicalJson(runtimeData))));
  return out;
}
