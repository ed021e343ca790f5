/**
 * Serializing DCAP quotes (the inverse of `parseQuote`), for quoting enclaves: SGX v3 with certification
 * data type 5, TDX v4 with type 6 wrapping type 5.
 */
import { concat } from './bytes.ts';
import { CertDataType, QUOTE_HEADER_SIZE, TEE_TYPE_TDX } from './quote.ts';
import type { QuoteHeader } from './quote.ts';
import { SGX_REPORT_BODY_SIZE, TD10_REPORT_BODY_SIZE } from './report-body.ts';

/** The parts of a quote; `body` and `qeReport` are raw report bodies. */
export interface QuoteParts {
  header: QuoteHeader;
  /** 384-byte SGX REPORTBODY, or 584-byte TD report body for TDX. */
  body: Uint8Array;
  /** ECDSA P-256 signature (r || s) by the attestation key over `quoteSignedData(header, body)`. */
  signature: Uint8Array;
  /** Attestation public key x || y. */
  attestationKey: Uint8Array;
  qeReport: Uint8Array;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  pckChainPem: string;
}

function fixed(name: string, bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

function u16(n: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** The 48-byte quote header. */
export function encodeQuoteHeader(h: QuoteHeader): Uint8Array {
  const out = new Uint8Array(QUOTE_HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setUint16(0, h.version, true);
  v.setUint16(2, h.attestationKeyType, true);
  v.setUint32(4, h.teeType, true);
  v.setUint16(8, h.qeSvn, true);
  v.setUint16(10, h.pceSvn, true);
  out.set(fixed('qeVendorId', h.qeVendorId, 16), 12);
  out.set(fixed('userData', h.userData, 20), 28);
  return out;
}

/** Header || body: the bytes the attestation key signs. */
export function quoteSignedData(header: QuoteHeader, body: Uint8Array): Uint8Array {
  const bodySize = header.teeType === TEE_TYPE_TDX ? TD10_REPORT_BODY_SIZE : SGX_REPORT_BODY_SIZE;
  return concat(encodeQuoteHeader(header), fixed('body', body, bodySize));
}

function certData(type: number, data: Uint8Array): Uint8Array {
  return concat(u16(type), u32(data.length), data);
}

/** A complete quote; TDX (TEE type 0x81) gets the v4 nested certification data. */
export function encodeQuote(p: QuoteParts): Uint8Array {
  if (p.qeAuthData.length > 0xffff) throw new RangeError('QE auth data exceeds 65535 bytes');
  const qeCertification = concat(
    fixed('qeReport', p.qeReport, SGX_REPORT_BODY_SIZE),
    fixed('qeReportSignature', p.qeReportSignature, 64),
    u16(p.qeAuthData.length),
    p.qeAuthData,
    // NUL-terminated, as Intel's quoting library writes it.
    certData(CertDataType.PCK_CERT_CHAIN, concat(new TextEncoder().encode(p.pckChainPem), new Uint8Array(1))),
  );
  const certification =
    p.header.teeType === TEE_TYPE_TDX ? certData(CertDataType.QE_REPORT, qeCertification) : qeCertification;
  const signatureData = concat(
    fixed('signature', p.signature, 64),
    fixed('attestationKey', p.attestationKey, 64),
    certification,
  );
  return concat(quoteSignedData(p.header, p.body), u32(signatureData.length), signatureData);
}
