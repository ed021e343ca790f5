/**
 * /dev/attestation, after Gramine's interface (`gramine-sgx`'s attestation pseudo-files), so that
 * programs written for it carry over:
 *   attestation_type   "dcap" (the evidence is a DCAP quote; under `sim`, signed by the sim root)
 *   mrenclave          this enclave's MRENCLAVE (32 bytes)
 *   my_target_info     this enclave's TARGETINFO (512)
 *   target_info        write the TARGETINFO a `report` should be for (512; default: this enclave)
 *   user_report_data   write the 64 bytes `report` and `quote` carry
 *   report             read: EREPORT(target_info, user_report_data) (432)
 *   quote              read: a DCAP quote with user_report_data
 *   keys/_sgx_mrenclave, keys/_sgx_mrsigner   seal keys (16 bytes each)
 * Each read takes a snapshot when the file is opened.
 */
import { REPORT_DATA_SIZE, SEAL_POLICY, TARGET_INFO_SIZE } from '../../interface/platform.ts';
import { createStaticFs, type FileSystem, type PseudoFile } from '../vfs/index.ts';
import type { Platform } from './platform-client.ts';

/** Builds /dev/attestation for this enclave. */
export function createAttestationFs(platform: Platform, mrenclave: Uint8Array): FileSystem {
  let targetInfo: Uint8Array | undefined;
  let userReportData: Uint8Array = new Uint8Array(REPORT_DATA_SIZE);
  const myTargetInfo = (): Uint8Array => (targetInfo ??= platform.myTargetInfo());
  const files: Record<string, Uint8Array | PseudoFile> = {
    attestation_type: new TextEncoder().encode('dcap'),
    mrenclave,
    my_target_info: { get: () => platform.myTargetInfo(), size: TARGET_INFO_SIZE },
    target_info: {
      get: myTargetInfo,
      set: (bytes: Uint8Array) => (targetInfo = bytes),
      size: TARGET_INFO_SIZE,
    },
    user_report_data: {
      get: () => userReportData,
      set: (bytes: Uint8Array) => (userReportData = bytes),
      size: REPORT_DATA_SIZE,
    },
    report: { get: () => platform.ereport(myTargetInfo(), userReportData), size: 432 },
    quote: { get: () => platform.quote(userReportData), size: 0 },
    'keys/_sgx_mrenclave': { get: () => platform.sealKey(SEAL_POLICY.MRENCLAVE), size: 16 },
    'keys/_sgx_mrsigner': { get: () => platform.sealKey(SEAL_POLICY.MRSIGNER), size: 16 },
  };
  return createStaticFs(files);
}
