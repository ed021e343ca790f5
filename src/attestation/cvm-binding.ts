/**
 * How a Cloister enclave inside a confidential VM (the `tdx` and `snp` backends) is tied to the VM's
 * hardware evidence. The VM's quote or report carries 64 bytes of report data; Cloister puts there
 * SHA-512(context ‖ MRENCLAVE ‖ the enclave's own 64 bytes of report data), so the evidence names the
 * enclave and what the enclave asked to bind (a nonce and key hash). On TDX the launch of each enclave
 * is also recorded in a runtime measurement register: RTMR ← SHA-384(RTMR ‖ SHA-384(event context ‖
 * MRENCLAVE)). SEV-SNP has no runtime register; the report data is its only binding.
 *
 * What it proves: genuine TDX/SNP hardware ran a VM with the measured launch image, and software in
 * that VM (Cloister, part of the VM's trusted code) launched an enclave of this MRENCLAVE. The enclave
 * is not isolated from the rest of that VM; the VM is isolated from its host.
 */
import { createHash } from 'node:crypto';
import { bytesEqual, concat } from './bytes.ts';

const REPORT_DATA_CONTEXT = new TextEncoder().encode('cloister cvm enclave report data v1\0');
const RTMR_EVENT_CONTEXT = new TextEncoder().encode('cloister cvm enclave launch v1\0');

/** The VM's 64 bytes of report data for an enclave's quote request. */
export function cvmReportData(mrenclave: Uint8Array, enclaveReportData: Uint8Array): Uint8Array {
  if (mrenclave.length !== 32) throw new RangeError(`MRENCLAVE must be 32 bytes, got ${mrenclave.length}`);
  if (enclaveReportData.length !== 64)
    throw new RangeError(`report data must be 64 bytes, got ${enclaveReportData.length}`);
  return new Uint8Array(
    createHash('sha512')
      .update(concat(REPORT_DATA_CONTEXT, mrenclave, enclaveReportData))
      .digest(),
  );
}

/** The 48-byte digest extended into the RTMR when an enclave of `mrenclave` is launched. */
export function rtmrEventDigest(mrenclave: Uint8Array): Uint8Array {
  if (mrenclave.length !== 32) throw new RangeError(`MRENCLAVE must be 32 bytes, got ${mrenclave.length}`);
  return new Uint8Array(createHash('sha384').update(concat(RTMR_EVENT_CONTEXT, mrenclave)).digest());
}

/** TDG.MR.RTMR.EXTEND: SHA-384(current ‖ digest). */
export function rtmrExtend(current: Uint8Array, digest: Uint8Array): Uint8Array {
  if (current.length !== 48 || digest.length !== 48) throw new RangeError('RTMR values are 48 bytes');
  return new Uint8Array(createHash('sha384').update(concat(current, digest)).digest());
}

/** The RTMR after extending, from zero, each digest of `events` in order (an event log's replay). */
export function rtmrReplay(events: readonly Uint8Array[]): Uint8Array {
  return events.reduce((rtmr, event) => rtmrExtend(rtmr, event), new Uint8Array(48));
}

/** Whether `bound` (the VM evidence's report data) is this enclave's binding of `enclaveReportData`. */
export function isCvmBinding(
  bound: Uint8Array,
  mrenclave: Uint8Array,
  enclaveReportData: Uint8Array,
): boolean {
  return bytesEqual(bound, cvmReportData(mrenclave, enclaveReportData));
}
