/**
 * DCAP quotes: SGX quote v3 (`sgx_quote_3.h`) and TDX quote v4 (TDX DCAP quote library), ECDSA P-256.
 * Every length field is checked against the bytes actually present; nothing is trusted before the
 * verifier (verify-dcap.ts) has checked the signatures.
 */
import { FormatError, Reader } from './bytes.ts';
import { readSgxReportBody, readTdReportBody } from './report-body.ts';
import type { SgxReportBody, TdReportBody } from './report-body.ts';

export const QUOTE_HEADER_SIZE = 48;
/** Upper bound on a quote: a PCK chain is a few KiB; anything this big is hostile. */
export const MAX_QUOTE_SIZE = 64 * 1024;
/** attestation key type 2: ECDSA-256-with-P-256 curve. */
export const ATT_KEY_ECDSA_P256 = 2;
export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;
/** Certification data types (DCAP quote library spec). */
export const CertDataType = { PCK_CERT_CHAIN: 5, QE_REPORT: 6 } as const;
/** Intel's QE vendor id, 939a7233-f79c-4ca9-940a-0db3957f0607. */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';

export interface QuoteHeader {
  version: number;
  attestationKeyType: number;
  /** 0 for SGX (a reserved field in v3), 0x81 for TDX. */
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** The QE's own report and what certifies the attestation key to the PCK. */
export interface QeReportCertification {
  /** The quoting enclave's REPORT body; its report data binds the attestation key. */
  qeReport: SgxReportBody;
  /** ECDSA P-256 signature (r || s) by the PCK key over the QE report body. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The PCK certificate chain (leaf first), PEM, as carried in certification data type 5. */
  pckChainPem: string;
}

interface QuoteCommon {
  header: QuoteHeader;
  /** Header || body: what the attestation key signs. */
  signedData: Uint8Array;
  /** ECDSA P-256 signature (r || s) by the attestation key. */
  signature: Uint8Array;
  /** The attestation public key, x || y (64 bytes, no 0x04 prefix). */
  attestationKey: Uint8Array;
  certification: QeReportCertification;
}

export interface SgxQuote extends QuoteCommon {
  kind: 'sgx';
  body: SgxReportBody;
}

export interface TdxQuote extends QuoteCommon {
  kind: 'tdx';
  body: TdReportBody;
}

export type Quote = SgxQuote | TdxQuote;

function readHeader(r: Reader): QuoteHeader {
  const version = r.u16('version');
  const attestationKeyType = r.u16('attestation key type');
  const teeType = r.u32('tee type');
  const qeSvn = r.u16('QE SVN');
  const pceSvn = r.u16('PCE SVN');
  const qeVendorId = r.bytesOf(16, 'QE vendor id');
  const userData = r.bytesOf(20, 'user data');
  return { version, attestationKeyType, teeType, qeSvn, pceSvn, qeVendorId, userData };
}

/** Certification data: type u16, size u32, then `size` bytes. */
function readCertData(r: Reader): { type: number; data: Uint8Array } {
  const type = r.u16('certification data type');
  const size = r.u32('certification data size');
  return { type, data: r.bytesOf(size, `certification data (type ${type}, ${size} bytes)`) };
}

const PEM_CHAIN = /^(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;

/** Type 5: a PEM chain. Some QEs pad it with NULs, which are dropped. */
function pckChain(cert: { type: number; data: Uint8Array }, what: string): string {
  if (cert.type !== CertDataType.PCK_CERT_CHAIN) {
    throw new FormatError(
      'unsupported-cert-type',
      `${what}: certification data type ${cert.type}, expected 5`,
    );
  }
  let end = cert.data.length;
  while (end > 0 && cert.data[end - 1] === 0) end--;
  const pem = new TextDecoder('utf-8', { fatal: false }).decode(cert.data.subarray(0, end));
  if (!PEM_CHAIN.test(pem))
    throw new FormatError('bad-pem', `${what}: certification data is not a PEM chain`);
  return pem;
}

/** QE report, its signature, QE auth data, then the inner certification data (type 5). */
function readQeReportCertification(r: Reader): QeReportCertification {
  const qeReport = readSgxReportBody(r, 'QE report');
  const qeReportSignature = r.bytesOf(64, 'QE report signature');
  const authSize = r.u16('QE auth data size');
  const qeAuthData = r.bytesOf(authSize, `QE auth data (${authSize} bytes)`);
  const pckChainPem = pckChain(readCertData(r), r.what);
  return { qeReport, qeReportSignature, qeAuthData, pckChainPem };
}

/** Rejects bytes after the signature data, except zero padding (TDX quotes may be padded). */
function checkTrailing(quote: Uint8Array, end: number, what: string): void {
  if (quote.subarray(end).some((b) => b !== 0)) {
    throw new FormatError(
      'trailing-data',
      `${what}: ${quote.length - end} unexpected bytes after the signature data`,
    );
  }
}

/**
 * Parses an SGX v3 or TDX v4 DCAP quote. Errors are `FormatError`s with codes: `truncated`, `oversized`,
 * `unsupported-version`, `unsupported-key-type`, `unsupported-tee-type`, `bad-length`,
 * `unsupported-cert-type`, `bad-pem`, `trailing-data`.
 */
export function parseQuote(quote: Uint8Array): Quote {
  if (quote.length > MAX_QUOTE_SIZE) {
    throw new FormatError(
      'oversized',
      `quote: ${quote.length} bytes exceeds the ${MAX_QUOTE_SIZE}-byte limit`,
    );
  }
  const r = new Reader(quote, 0, 'quote');
  const header = readHeader(r);
  if (header.attestationKeyType !== ATT_KEY_ECDSA_P256) {
    throw new FormatError('unsupported-key-type', `quote: attestation key type ${header.attestationKeyType}`);
  }
  let kind: 'sgx' | 'tdx';
  if (header.version === 3 && header.teeType === TEE_TYPE_SGX) kind = 'sgx';
  else if (header.version === 4 && header.teeType === TEE_TYPE_TDX) kind = 'tdx';
  else if (header.version !== 3 && header.version !== 4) {
    throw new FormatError(
      'unsupported-version',
      `quote: version ${header.version} (supported: SGX v3, TDX v4)`,
    );
  } else {
    throw new FormatError(
      'unsupported-tee-type',
      `quote v${header.version}: TEE type 0x${header.teeType.toString(16)}`,
    );
  }
  const body = kind === 'sgx' ? readSgxReportBody(r) : readTdReportBody(r);
  const signedData = quote.subarray(0, r.pos);
  const sigLen = r.u32('signature data length');
  if (sigLen > r.remaining) {
    throw new FormatError(
      'bad-length',
      `quote: signature data length ${sigLen} exceeds the ${r.remaining} bytes left`,
    );
  }
  const end = r.pos + sigLen;
  // Nested lengths are bounded by the declared signature data, not by the whole buffer.
  const s = new Reader(quote.subarray(0, end), r.pos, `${kind.toUpperCase()} quote signature data`);
  const signature = s.bytesOf(64, 'quote signature');
  const attestationKey = s.bytesOf(64, 'attestation key');
  let certification: QeReportCertification;
  if (kind === 'sgx') {
    certification = readQeReportCertification(s);
  } else {
    const outer = readCertData(s);
    if (outer.type !== CertDataType.QE_REPORT) {
      throw new FormatError(
        'unsupported-cert-type',
        `TDX quote: certification data type ${outer.type}, expected 6`,
      );
    }
    const inner = new Reader(outer.data, 0, 'TDX quote QE report certification data');
    certification = readQeReportCertification(inner);
    if (inner.remaining !== 0) {
      throw new FormatError(
        'bad-length',
        `TDX quote: ${inner.remaining} bytes left in certification data type 6`,
      );
    }
  }
  if (s.remaining !== 0)
    throw new FormatError('bad-length', `quote: ${s.remaining} unused bytes in signature data`);
  checkTrailing(quote, end, 'quote');
  const common = { header, signedData, signature, attestationKey, certification };
  return kind === 'sgx'
    ? { kind, body: body as SgxReportBody, ...common }
    : { kind, body: body as TdReportBody, ...common };
}
