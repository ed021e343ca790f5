/** Record batches inside sealed blocks: JSON arrays (records must be JSON values; tuples are arrays). */
import { IntegrityError } from './errors.ts';

export function encodeBatch(records: readonly unknown[]): Buffer {
  return Buffer.from(JSON.stringify(records), 'utf8');
}

export function decodeBatch(bytes: Uint8Array): unknown[] {
  const value: unknown = JSON.parse(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  );
  // Authenticated bytes that are not a batch mean our own writer is broken or the key leaked.
  if (!Array.isArray(value)) throw new IntegrityError('a sealed batch is not an array');
  return value;
}

/** A cheap estimate of a record's size in memory, for spill and block-size decisions. */
export function roughSize(value: unknown): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + roughSize(v), 16);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).reduce((n, [k, v]) => n + 16 + 2 * k.length + roughSize(v), 16);
  return 8;
}
