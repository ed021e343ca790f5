/**
 * RFC 8785 JSON Canonicalization Scheme for the JSON values the KBS hashes: members sorted by their
 * UTF-16 code units, no whitespace, ECMAScript number and string serialization (which RFC 8785 adopts).
 */

/** A JSON value as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The canonical text of `value`; throws on values JSON cannot carry (non-finite numbers, undefined). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    // Default sort compares UTF-16 code units, exactly the order RFC 8785 section 3.2.3 asks for.
    const keys = Object.keys(value).sort();
    const record = value as Record<string, unknown>;
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  throw new TypeError(`JCS: cannot serialize ${typeof value}`);
}
