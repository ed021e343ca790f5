/** AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec, table 21): 1184 bytes, versions 2 and 3. */
import { FormatError, Reader } from './bytes.ts';

export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0..0x29F. */
export const SNP_SIGNED_SIZE = 0x2a0;
/** SIGNATURE_ALGO 1: ECDSA P-384 with SHA-384. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;
/** GUEST POLICY bit 19: debugging the guest is allowed. */
export const SNP_POLICY_DEBUG = 1n << 19n;

/** A TCB_VERSION (u64): one SVN byte per firmware component (Milan/Genoa layout). */
export interface SnpTcb {
  raw: bigint;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: SnpTcb;
  platformInfo: bigint;
  /** AUTHOR_KEY_EN (bit 0), MASK_CHIP_KEY (bit 1), SIGNING_KEY (bits 2..4: 0 = VCEK, 1 = VLEK). */
  keyInfo: number;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: SnpTcb;
  chipId: Uint8Array;
  committedTcb: SnpTcb;
  launchTcb: SnpTcb;
  /** Bytes 0..0x29F, what the VCEK signs. */
  signedData: Uint8Array;
  /** R and S, each 72 bytes little-endian (zero-extended). */
  signatureR: Uint8Array;
  signatureS: Uint8Array;
}

function tcb(raw: bigint): SnpTcb {
  const byte = (i: number): number => Number((raw >> BigInt(8 * i)) & 0xffn);
  return { raw, bootloader: byte(0), tee: byte(1), snp: byte(6), microcode: byte(7) };
}

/** Parses an SEV-SNP attestation report; `FormatError` codes: `bad-length`, `unsupported-version`. */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (bytes.length !== SNP_REPORT_SIZE) {
    throw new FormatError('bad-length', `SNP report: ${bytes.length} bytes, expected ${SNP_REPORT_SIZE}`);
  }
  const r = new Reader(bytes, 0, 'SNP report');
  const version = r.u32('VERSION');
  if (version !== 2 && version !== 3)
    throw new FormatError('unsupported-version', `SNP report: version ${version}`);
  const guestSvn = r.u32('GUEST_SVN');
  const policy = r.u64('POLICY');
  const familyId = r.bytesOf(16, 'FAMILY_ID');
  const imageId = r.bytesOf(16, 'IMAGE_ID');
  const vmpl = r.u32('VMPL');
  const signatureAlgo = r.u32('SIGNATURE_ALGO');
  const currentTcb = tcb(r.u64('CURRENT_TCB'));
  const platformInfo = r.u64('PLATFORM_INFO');
  const keyInfo = r.u32('key info');
  r.u32('reserved');
  const reportData = r.bytesOf(64, 'REPORT_DATA');
  const measurement = r.bytesOf(48, 'MEASUREMENT');
  const hostData = r.bytesOf(32, 'HOST_DATA');
  const idKeyDigest = r.bytesOf(48, 'ID_KEY_DIGEST');
  const authorKeyDigest = r.bytesOf(48, 'AUTHOR_KEY_DIGEST');
  const reportId = r.bytesOf(32, 'REPORT_ID');
  const reportIdMa = r.bytesOf(32, 'REPORT_ID_MA');
  const reportedTcb = tcb(r.u64('REPORTED_TCB'));
  r.bytesOf(24, 'reserved / CPUID');
  const chipId = r.bytesOf(64, 'CHIP_ID');
  const committedTcb = tcb(r.u64('COMMITTED_TCB'));
  r.bytesOf(8, 'build numbers');
  const launchTcb = tcb(r.u64('LAUNCH_TCB'));
  r.pos = SNP_SIGNED_SIZE;
  const signatureR = r.bytesOf(72, 'SIGNATURE.R');
  const signatureS = r.bytesOf(72, 'SIGNATURE.S');
  return {
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb,
    platformInfo,
    keyInfo,
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb,
    chipId,
    committedTcb,
    launchTcb,
    signedData: bytes.subarray(0, SNP_SIGNED_SIZE),
    signatureR,
    signatureS,
  };
}
