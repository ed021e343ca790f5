/**
 * Keys of pair RDDs: a canonical encoding (so that equal keys hash and group alike in every process,
 * whatever object identity they had), a total order consistent with it, and hash partitioning.
 */
import { DataflowError } from './errors.ts';

export type Key = string | number | boolean | null | readonly Key[];

/** The canonical encoding of a key; two keys are equal exactly when their encodings are. */
export function encodeKey(key: unknown): string {
  if (key === null) return 'n';
  switch (typeof key) {
    case 'string':
      return `s${JSON.stringify(key)}`;
    case 'number':
      if (!Number.isFinite(key))
        throw new DataflowError(`key ${key} cannot be partitioned: not a finite number`);
      return `d${key === 0 ? 0 : key}`;
    case 'boolean':
      return key ? 't' : 'f';
    case 'object':
      if (Array.isArray(key)) return `a[${key.map(encodeKey).join(',')}]`;
  }
  throw new DataflowError(
    `a key must be a string, finite number, boolean, null or an array of them, not ${typeof key}`,
  );
}

const rank = (key: Key): number =>
  key === null
    ? 0
    : typeof key === 'boolean'
      ? 1
      : typeof key === 'number'
        ? 2
        : typeof key === 'string'
          ? 3
          : 4;

/** A total order on keys: by type, then by value; arrays lexicographically. 0 exactly when equal. */
export function compareKeys(a: Key, b: Key): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (Array.isArray(a)) {
    const bb = b as readonly Key[];
    for (let i = 0; i < Math.min(a.length, bb.length); i++) {
      const c = compareKeys(a[i], bb[i]);
      if (c !== 0) return c;
    }
    return a.length - bb.length;
  }
  if (typeof a === 'number' && typeof b === 'number') return a === b ? 0 : a < b ? -1 : 1;
  return a === b ? 0 : (a as string | boolean) < (b as string | boolean) ? -1 : 1;
}

/** FNV-1a over the UTF-16 code units of the canonical encoding: the same in every process. */
export function hashKey(key: unknown): number {
  const text = encodeKey(key);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function hashPartition(key: unknown, partitions: number): number {
  return hashKey(key) % partitions;
}
