/**
 * What a file of attestation evidence is, from its header alone, before any parser sees it: a DCAP
 * quote (SGX v3 or TDX v4, ECDSA-256 attestation key) or an AMD SEV-SNP attestation report. Anything
 * else is not evidence, which is the answer a user needs for a wrong file, not a parser's field error.
 */
import { SNP_REPORT_SIZE } from './snp-report.ts';

export type EvidenceKind = 'dcap' | 'snp';

/** Version, attestation key type and TEE type: enough to tell a (maybe truncated) quote; its parser says the rest. */
const DCAP_KIND_BYTES = 8;
const ECDSA_256_KEY = 2;

export function evidenceKind(bytes: Uint8Array): EvidenceKind | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length === SNP_REPORT_SIZE) {
    const version = view.getUint32(0, true);
    if (version >= 2 && version <= 5) return 'snp';
  }
  if (bytes.length >= DCAP_KIND_BYTES) {
    const version = view.getUint16(0, true);
    if ((version === 3 || version === 4) && view.getUint16(2, true) === ECDSA_256_KEY) return 'dcap';
  }
  return null;
}
