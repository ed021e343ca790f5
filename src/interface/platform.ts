/**
 * The enclave's view of its platform: the SGX instructions Cloister uses (EREPORT, EGETKEY),
 * called through a mailbox (`mailbox.ts`) that the `sim` platform serves, and the quoting
 * enclave's operations that the untrusted host relays. Byte layouts follow Intel's `sgx_report.h`.
 */

/** Operations on the platform mailbox (enclave → platform: instructions, trusted). */
export const PlatformOp = {
  /** request: TARGETINFO (512) || REPORTDATA (64); reply: REPORT (432). */
  EREPORT: 1,
  /** request: u16 policy (1 = MRENCLAVE, 2 = MRSIGNER); reply: the 16-byte seal key. */
  EGETKEY_SEAL: 2,
} as const;

/** Operations on the quoting-enclave mailbox (host server → QE; relayed, untrusted). */
export const QeOp = {
  /** reply: the QE's TARGETINFO (512). */
  TARGET_INFO: 1,
  /** request: REPORT (432) targeted at the QE; reply: DCAP quote v3. */
  QUOTE: 2,
} as const;

export const TARGET_INFO_SIZE = 512;
export const REPORT_DATA_SIZE = 64;
export const REPORT_SIZE = 432;
export const SEAL_POLICY = { MRENCLAVE: 1, MRSIGNER: 2 } as const;

export interface TargetInfoFields {
  mrenclave: Uint8Array;
  /** FLAGS u64 LE || XFRM u64 LE. */
  attributes: Uint8Array;
  miscselect: number;
}

/** sgx_target_info_t: MRENCLAVE @0, ATTRIBUTES @32, MISCSELECT @52 (the rest reserved/KSS). */
export function encodeTargetInfo(t: TargetInfoFields): Uint8Array {
  const out = new Uint8Array(TARGET_INFO_SIZE);
  out.set(t.mrenclave.subarray(0, 32), 0);
  out.set(t.attributes.subarray(0, 16), 32);
  new DataView(out.buffer).setUint32(52, t.miscselect, true);
  return out;
}

export function decodeTargetInfo(bytes: Uint8Array): TargetInfoFields {
  if (bytes.length !== TARGET_INFO_SIZE) throw new RangeError(`TARGETINFO must be ${TARGET_INFO_SIZE} bytes`);
  return {
    mrenclave: bytes.slice(0, 32),
    attributes: bytes.slice(32, 48),
    miscselect: new DataView(bytes.buffer, bytes.byteOffset).getUint32(52, true),
  };
}

/** The TARGETINFO naming the enclave that produced `report` (from its body). */
export function targetInfoOfReport(report: Uint8Array): Uint8Array {
  const v = new DataView(report.buffer, report.byteOffset, report.length);
  return encodeTargetInfo({
    mrenclave: report.subarray(64, 96),
    attributes: report.subarray(48, 64),
    miscselect: v.getUint32(16, true),
  });
}
