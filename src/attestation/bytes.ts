/** Byte helpers shared by the evidence parsers: bounds-checked reads and little-endian integers. */

/** Evidence that is malformed: truncated, oversized, wrong version or type, bad length field. */
export class FormatError extends Error {
  override name = 'FormatError';
  constructor(
    /** Stable machine-readable reason, e.g. `truncated`, `unsupported-version`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Sequential reader over a byte array; every read checks bounds and names the field on failure. */
export class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    public pos = 0,
    /** Label prefixed to errors, e.g. `SGX quote`. */
    readonly what = 'input',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, field: string): number {
    if (n > this.remaining) {
      throw new FormatError(
        'truncated',
        `${this.what}: truncated at ${field} (needs ${n} bytes at offset ${this.pos}, ${this.remaining} left)`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A view (not a copy) of the next n bytes. */
  bytesOf(n: number, field: string): Uint8Array {
    const at = this.need(n, field);
    return this.bytes.subarray(at, at + n);
  }
  u8(field: string): number {
    return this.view.getUint8(this.need(1, field));
  }
  u16(field: string): number {
    return this.view.getUint16(this.need(2, field), true);
  }
  u32(field: string): number {
    return this.view.getUint32(this.need(4, field), true);
  }
  u64(field: string): bigint {
    return this.view.getBigUint64(this.need(8, field), true);
  }
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes of a hex string; throws on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    throw new FormatError('bad-hex', `not a hex string`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Unsigned little-endian bytes to BigInt. */
export function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

/** BigInt to exactly `length` little-endian bytes; throws if it does not fit. */
export function bigIntToLe(n: bigint, length: number): Uint8Array {
  if (n < 0n) throw new RangeError('negative');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  if (n !== 0n) throw new RangeError(`value does not fit in ${length} bytes`);
  return out;
}

/** Reversed copy (big-endian <-> little-endian). */
export function reversed(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse();
}

/** Concatenation of byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Equality of two byte arrays (not constant-time: for public values only). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
