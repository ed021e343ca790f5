/**
 * MRENCLAVE: the SHA-256 measurement SGX accumulates while an enclave is built (ECREATE, EADD, EEXTEND),
 * computed in software exactly as the CPU does (Intel SDM vol. 3D, 38.7 / 40.1).
 */
import { createHash } from 'node:crypto';

/** Bytes in one EPC page. */
export const PAGE_SIZE = 4096;
/** Bytes measured by one EEXTEND. */
export const EEXTEND_CHUNK = 256;
/** Every measurement record starts with a 64-byte block. */
export const MEASUREMENT_BLOCK = 64;

/** SECINFO.FLAGS bits: permissions in bits 0..2, page type in bits 8..15. */
export const SecinfoFlags = {
  R: 0x1n,
  W: 0x2n,
  X: 0x4n,
  PENDING: 0x8n,
  MODIFIED: 0x10n,
  PR: 0x20n,
  PT_SECS: 0x0n << 8n,
  PT_TCS: 0x1n << 8n,
  PT_REG: 0x2n << 8n,
  PT_VA: 0x3n << 8n,
  PT_TRIM: 0x4n << 8n,
} as const;

const U64_MAX = (1n << 64n) - 1n;

/** An 8-byte tag ("EADD\0\0\0\0"), NUL-padded, as it opens each measured block. */
export function measurementTag(name: string): Uint8Array {
  const tag = new Uint8Array(8);
  tag.set(new TextEncoder().encode(name));
  return tag;
}

const TAG_ECREATE = measurementTag('ECREATE');
const TAG_EADD = measurementTag('EADD');
const TAG_EEXTEND = measurementTag('EEXTEND');

function checkU64(name: string, value: bigint): void {
  if (value < 0n || value > U64_MAX) throw new RangeError(`${name} out of u64 range: ${value}`);
}

/** One EEXTEND record: its 64-byte block, then the 256 bytes it measures. */
const EEXTEND_RECORD = MEASUREMENT_BLOCK + EEXTEND_CHUNK;

/** A page's worth of EEXTEND records with their tags in place (offsets and data still zero). */
function eextendRecords(): Uint8Array {
  const records = new Uint8Array((PAGE_SIZE / EEXTEND_CHUNK) * EEXTEND_RECORD);
  for (let at = 0; at < records.length; at += EEXTEND_RECORD) records.set(TAG_EEXTEND, at);
  return records;
}

/** Incremental MRENCLAVE computation; the calls must follow the order the enclave is built in. */
export class MrEnclaveBuilder {
  // node:crypto's SHA-256: every launch measures the whole enclave image, so speed counts here.
  private readonly hash = createHash('sha256');
  /**
   * The 16 EEXTEND records of one page, back to back: SHA-256 of a concatenation is the same
   * whether it is fed in one update or 32, and one update per page saves a launch thousands of
   * small calls and allocations. Only the offsets and the data change from page to page.
   */
  private readonly pageRecords = eextendRecords();
  private readonly pageRecordsView = new DataView(this.pageRecords.buffer);

  /** ECREATE: 64-byte block "ECREATE\0" || SSAFRAMESIZE (u32 LE) || SIZE (u64 LE) || 44 zero bytes. */
  constructor(enclaveSize: bigint, ssaFrameSize: number) {
    checkU64('enclaveSize', enclaveSize);
    if (!Number.isInteger(ssaFrameSize) || ssaFrameSize < 0 || ssaFrameSize > 0xffffffff) {
      throw new RangeError(`ssaFrameSize out of u32 range: ${ssaFrameSize}`);
    }
    const block = new Uint8Array(MEASUREMENT_BLOCK);
    const view = new DataView(block.buffer);
    block.set(TAG_ECREATE, 0);
    view.setUint32(8, ssaFrameSize, true);
    view.setBigUint64(12, enclaveSize, true);
    this.hash.update(block);
  }

  /** EADD: "EADD\0\0\0\0" || offset (u64 LE) || first 48 bytes of SECINFO (flags u64 LE, then zeros). */
  eadd(offset: bigint, secinfoFlags: bigint): void {
    checkU64('offset', offset);
    checkU64('secinfoFlags', secinfoFlags);
    if (offset % BigInt(PAGE_SIZE) !== 0n) throw new RangeError(`EADD offset not page aligned: ${offset}`);
    const block = new Uint8Array(MEASUREMENT_BLOCK);
    const view = new DataView(block.buffer);
    block.set(TAG_EADD, 0);
    view.setBigUint64(8, offset, true);
    view.setBigUint64(16, secinfoFlags, true);
    this.hash.update(block);
  }

  /** EEXTEND of one 256-byte chunk: "EEXTEND\0" || offset (u64 LE) || 48 zeros, then the 256 bytes. */
  eextend(offset: bigint, chunk: Uint8Array): void {
    checkU64('offset', offset);
    if (offset % BigInt(EEXTEND_CHUNK) !== 0n)
      throw new RangeError(`EEXTEND offset not 256-aligned: ${offset}`);
    if (chunk.length !== EEXTEND_CHUNK)
      throw new RangeError(`EEXTEND chunk must be 256 bytes, got ${chunk.length}`);
    const block = new Uint8Array(MEASUREMENT_BLOCK);
    block.set(TAG_EEXTEND, 0);
    new DataView(block.buffer).setBigUint64(8, offset, true);
    this.hash.update(block);
    this.hash.update(chunk);
  }

  /** EADD of a 4 KiB page then, if measured (the default), 16 EEXTENDs covering it. */
  addPage(offset: bigint, page: Uint8Array, secinfoFlags: bigint, measured = true): void {
    if (page.length !== PAGE_SIZE) throw new RangeError(`page must be 4096 bytes, got ${page.length}`);
    this.eadd(offset, secinfoFlags);
    if (!measured) return;
    checkU64('offset', offset + BigInt(PAGE_SIZE - EEXTEND_CHUNK));
    for (let i = 0, at = 0; i < PAGE_SIZE; i += EEXTEND_CHUNK, at += EEXTEND_RECORD) {
      this.pageRecordsView.setBigUint64(at + 8, offset + BigInt(i), true);
      this.pageRecords.set(page.subarray(i, i + EEXTEND_CHUNK), at + MEASUREMENT_BLOCK);
    }
    this.hash.update(this.pageRecords);
  }

  /** The 32-byte MRENCLAVE so far (EINIT); the builder stays usable, so this can be called repeatedly. */
  digest(): Uint8Array {
    return new Uint8Array(this.hash.copy().digest());
  }
}
