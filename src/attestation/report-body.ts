/** Enclave and TD report bodies as they appear in quotes (Intel `sgx_report.h`, TDX DCAP `td_report_body`). */
import { Reader } from './bytes.ts';

/** SGX REPORTBODY size. */
export const SGX_REPORT_BODY_SIZE = 384;
/** TDX 1.0 TD report body size. */
export const TD10_REPORT_BODY_SIZE = 584;

/** ATTRIBUTES.FLAGS bits of interest. */
export const SgxAttributeFlags = {
  INIT: 1n,
  DEBUG: 2n,
  MODE64BIT: 4n,
  PROVISIONKEY: 0x10n,
  EINITTOKENKEY: 0x20n,
  KSS: 0x80n,
} as const;

/** An SGX REPORTBODY (384 bytes). Byte fields are views into the input. */
export interface SgxReportBody {
  cpuSvn: Uint8Array;
  miscSelect: number;
  isvExtProdId: Uint8Array;
  /** FLAGS u64 LE || XFRM u64 LE. */
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  configId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  configSvn: number;
  isvFamilyId: Uint8Array;
  reportData: Uint8Array;
  /** The 384 raw bytes (what the QE report signature covers). */
  raw: Uint8Array;
}

/** Reads an SGX REPORTBODY at the reader's position. */
export function readSgxReportBody(r: Reader, field = 'report body'): SgxReportBody {
  const raw = r.bytesOf(SGX_REPORT_BODY_SIZE, field);
  const b = new Reader(raw, 0, r.what);
  const cpuSvn = b.bytesOf(16, 'CPUSVN');
  const miscSelect = b.u32('MISCSELECT');
  b.bytesOf(12, 'reserved');
  const isvExtProdId = b.bytesOf(16, 'ISVEXTPRODID');
  const attributes = b.bytesOf(16, 'ATTRIBUTES');
  const mrEnclave = b.bytesOf(32, 'MRENCLAVE');
  b.bytesOf(32, 'reserved');
  const mrSigner = b.bytesOf(32, 'MRSIGNER');
  b.bytesOf(32, 'reserved');
  const configId = b.bytesOf(64, 'CONFIGID');
  const isvProdId = b.u16('ISVPRODID');
  const isvSvn = b.u16('ISVSVN');
  const configSvn = b.u16('CONFIGSVN');
  b.bytesOf(42, 'reserved');
  const isvFamilyId = b.bytesOf(16, 'ISVFAMILYID');
  const reportData = b.bytesOf(64, 'REPORTDATA');
  return {
    cpuSvn,
    miscSelect,
    isvExtProdId,
    attributes,
    mrEnclave,
    mrSigner,
    configId,
    isvProdId,
    isvSvn,
    configSvn,
    isvFamilyId,
    reportData,
    raw,
  };
}

/** Fields of an SGX REPORTBODY to encode; omitted ones are zero. */
export type SgxReportBodyFields = Partial<Omit<SgxReportBody, 'raw'>>;

/** Encodes an SGX REPORTBODY (384 bytes; reserved bytes zero). */
export function encodeSgxReportBody(f: SgxReportBodyFields): Uint8Array {
  const out = new Uint8Array(SGX_REPORT_BODY_SIZE);
  const v = new DataView(out.buffer);
  const put = (name: string, bytes: Uint8Array | undefined, at: number, length: number): void => {
    if (bytes === undefined) return;
    if (bytes.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${bytes.length}`);
    out.set(bytes, at);
  };
  put('cpuSvn', f.cpuSvn, 0, 16);
  v.setUint32(16, f.miscSelect ?? 0, true);
  put('isvExtProdId', f.isvExtProdId, 32, 16);
  put('attributes', f.attributes, 48, 16);
  put('mrEnclave', f.mrEnclave, 64, 32);
  put('mrSigner', f.mrSigner, 128, 32);
  put('configId', f.configId, 192, 64);
  v.setUint16(256, f.isvProdId ?? 0, true);
  v.setUint16(258, f.isvSvn ?? 0, true);
  v.setUint16(260, f.configSvn ?? 0, true);
  put('isvFamilyId', f.isvFamilyId, 304, 16);
  put('reportData', f.reportData, 320, 64);
  return out;
}

/** ATTRIBUTES.FLAGS of an SGX report body. */
export function sgxAttributeFlags(body: SgxReportBody): bigint {
  return new DataView(body.attributes.buffer, body.attributes.byteOffset, 8).getBigUint64(0, true);
}

/** A TDX 1.0 TD report body (584 bytes). */
export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  raw: Uint8Array;
}

/** TDATTRIBUTES bit 0: the TD is debuggable (its memory is readable by the host). */
export const TD_ATTRIBUTE_DEBUG = 1n;

/** Reads a TD 1.0 report body at the reader's position. */
export function readTdReportBody(r: Reader): TdReportBody {
  const raw = r.bytesOf(TD10_REPORT_BODY_SIZE, 'TD report body');
  const b = new Reader(raw, 0, r.what);
  return {
    teeTcbSvn: b.bytesOf(16, 'TEE_TCB_SVN'),
    mrSeam: b.bytesOf(48, 'MRSEAM'),
    mrSignerSeam: b.bytesOf(48, 'MRSIGNERSEAM'),
    seamAttributes: b.bytesOf(8, 'SEAMATTRIBUTES'),
    tdAttributes: b.bytesOf(8, 'TDATTRIBUTES'),
    xfam: b.bytesOf(8, 'XFAM'),
    mrTd: b.bytesOf(48, 'MRTD'),
    mrConfigId: b.bytesOf(48, 'MRCONFIGID'),
    mrOwner: b.bytesOf(48, 'MROWNER'),
    mrOwnerConfig: b.bytesOf(48, 'MROWNERCONFIG'),
    rtmr: [b.bytesOf(48, 'RTMR0'), b.bytesOf(48, 'RTMR1'), b.bytesOf(48, 'RTMR2'), b.bytesOf(48, 'RTMR3')],
    reportData: b.bytesOf(64, 'REPORTDATA'),
    raw,
  };
}
