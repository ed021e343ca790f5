/**
 * Fortanix SGXS measurement streams: the exact bytes SGX hashes into MRENCLAVE, as 64-byte records
 * (ECREATE, EADD, EEXTEND + 256 data bytes). The enhanced form may add UNMEASRD records (loaded, not
 * measured: skipped when measuring) and an UNSIZED header (size not yet final: cannot be measured).
 */
import {
  EEXTEND_CHUNK,
  MEASUREMENT_BLOCK,
  MrEnclaveBuilder,
  PAGE_SIZE,
  measurementTag,
} from './mrenclave.ts';

/** One record of an SGXS stream. */
export type SgxsRecord =
  | { kind: 'ecreate'; ssaFrameSize: number; size: bigint }
  | { kind: 'eadd'; offset: bigint; secinfoFlags: bigint }
  | { kind: 'eextend'; offset: bigint; data: Uint8Array }
  | { kind: 'unmeasured'; offset: bigint; data: Uint8Array };

/** A malformed or non-measurable SGXS stream. */
export class SgxsError extends Error {
  override name = 'SgxsError';
}

const TAGS = new Map<bigint, SgxsRecord['kind'] | 'unsized'>(
  (
    [
      ['ECREATE', 'ecreate'],
      ['EADD', 'eadd'],
      ['EEXTEND', 'eextend'],
      ['UNMEASRD', 'unmeasured'],
      ['UNSIZED', 'unsized'],
    ] as const
  ).map(([tag, kind]) => [new DataView(measurementTag(tag).buffer).getBigUint64(0, true), kind]),
);

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/**
 * Parses an SGXS stream and checks the structural rules that make it measurable: exactly one ECREATE
 * first, page-aligned increasing EADD offsets, EEXTEND offsets 256-aligned inside the preceding EADD's
 * page, zero reserved bytes.
 */
export function parseSgxs(stream: Uint8Array): SgxsRecord[] {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const records: SgxsRecord[] = [];
  let lastPage: bigint | undefined;
  for (let pos = 0; pos < stream.length;) {
    if (stream.length - pos < MEASUREMENT_BLOCK)
      throw new SgxsError(`truncated record header at byte ${pos}`);
    const tagValue = view.getBigUint64(pos, true);
    const kind = TAGS.get(tagValue);
    if (kind === undefined) throw new SgxsError(`unknown tag ${tagValue.toString(16)} at byte ${pos}`);
    if (kind === 'unsized')
      throw new SgxsError('UNSIZED stream: the enclave size is not final, cannot measure');
    if ((pos === 0) !== (kind === 'ecreate'))
      throw new SgxsError(`ECREATE must be the first and only header`);
    switch (kind) {
      case 'ecreate': {
        if (!isZero(stream.subarray(pos + 20, pos + MEASUREMENT_BLOCK))) {
          throw new SgxsError('ECREATE reserved bytes not zero');
        }
        records.push({
          kind,
          ssaFrameSize: view.getUint32(pos + 8, true),
          size: view.getBigUint64(pos + 12, true),
        });
        pos += MEASUREMENT_BLOCK;
        break;
      }
      case 'eadd': {
        const offset = view.getBigUint64(pos + 8, true);
        if (offset % BigInt(PAGE_SIZE) !== 0n) throw new SgxsError(`EADD offset ${offset} not page aligned`);
        if (lastPage !== undefined && offset <= lastPage)
          throw new SgxsError(`EADD offset ${offset} not increasing`);
        if (!isZero(stream.subarray(pos + 24, pos + MEASUREMENT_BLOCK))) {
          throw new SgxsError('EADD SECINFO reserved bytes not zero');
        }
        lastPage = offset;
        records.push({ kind, offset, secinfoFlags: view.getBigUint64(pos + 16, true) });
        pos += MEASUREMENT_BLOCK;
        break;
      }
      case 'eextend':
      case 'unmeasured': {
        const offset = view.getBigUint64(pos + 8, true);
        if (offset % BigInt(EEXTEND_CHUNK) !== 0n)
          throw new SgxsError(`EEXTEND offset ${offset} not 256-aligned`);
        if (lastPage === undefined || offset - (offset % BigInt(PAGE_SIZE)) !== lastPage) {
          throw new SgxsError(`EEXTEND offset ${offset} outside the preceding EADD page`);
        }
        if (!isZero(stream.subarray(pos + 16, pos + MEASUREMENT_BLOCK))) {
          throw new SgxsError('EEXTEND reserved bytes not zero');
        }
        const end = pos + MEASUREMENT_BLOCK + EEXTEND_CHUNK;
        if (end > stream.length)
          throw new SgxsError(`truncated EEXTEND data at byte ${pos + MEASUREMENT_BLOCK}`);
        records.push({ kind, offset, data: stream.subarray(pos + MEASUREMENT_BLOCK, end) });
        pos = end;
        break;
      }
    }
  }
  if (records.length === 0) throw new SgxsError('empty stream');
  return records;
}

/** Replays a parsed SGXS stream through MrEnclaveBuilder and returns MRENCLAVE. */
export function measureSgxs(stream: Uint8Array): Uint8Array {
  const records = parseSgxs(stream);
  const first = records[0];
  if (first.kind !== 'ecreate') throw new SgxsError('stream does not start with ECREATE');
  const builder = new MrEnclaveBuilder(first.size, first.ssaFrameSize);
  for (const record of records.slice(1)) {
    if (record.kind === 'eadd') builder.eadd(record.offset, record.secinfoFlags);
    else if (record.kind === 'eextend') builder.eextend(record.offset, record.data);
  }
  return builder.digest();
}
