/**
 * A bounded memo keyed by the SHA-256 of bytes: the same certificates, CRLs and collateral come back
 * with every quote, and parsing and checking them is most of a verification's time. Only values that
 * depend on nothing but those bytes go in; time windows and per-quote signatures are checked at each use.
 */
import { createHash } from 'node:crypto';

/** SHA-256 (hex) over length-prefixed parts, so different splits of the same bytes never collide. */
export function digestOf(...parts: (Uint8Array | string)[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(8);
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    length.writeBigUint64LE(BigInt(bytes.length));
    hash.update(length).update(bytes);
  }
  return hash.digest('hex');
}

/** Every memo made, so a benchmark can measure verification with all of them cold. */
const memos = new Set<BoundedMemo<unknown>>();

/**
 * Empties every memo. Objects parsed before are not reused after, so the per-object caches keyed by
 * them (signatures, public keys) are cold too. For benchmarks; verification never needs it.
 */
export function clearMemos(): void {
  for (const memo of memos) memo.clear();
}

/** Least-recently-used map with at most `limit` entries. */
export class BoundedMemo<V> {
  readonly #entries = new Map<string, V>();
  constructor(readonly limit: number) {
    memos.add(this);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** The value for `key`, made by `make` on a miss; a throwing `make` stores nothing. */
  get(key: string, make: () => V): V {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const value = make();
    this.#entries.set(key, value);
    if (this.#entries.size > this.limit) this.#entries.delete(this.#entries.keys().next().value as string);
    return value;
  }

  /** Stores `value` (after an asynchronous check that `get` cannot wait for). */
  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.limit) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  peek(key: string): V | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
