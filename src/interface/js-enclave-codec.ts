/**
 * The values that cross the JavaScript enclave's boundary, as bytes: a small tagged format of our
 * own rather than `v8.deserialize`, whose parser of hostile bytes would run inside the enclave.
 * It carries undefined, null, booleans, numbers (float64), strings (UTF-8), bigints, Uint8Arrays,
 * arrays and plain objects; nothing else (no functions, classes, prototypes or cycles).
 *
 * The decoder is strict: every length is checked against the bytes left before anything is
 * allocated, strings must be valid UTF-8, bigints canonical, keys unique, nesting bounded, and no
 * byte may follow the value. Objects are built with own data properties (a `__proto__` key is a
 * key, never a prototype).
 */

export class CodecError extends Error {
  override name = 'CodecError';
}

const Tag = {
  UNDEFINED: 0,
  NULL: 1,
  FALSE: 2,
  TRUE: 3,
  NUMBER: 4,
  STRING: 5,
  BIGINT: 6,
  BYTES: 7,
  ARRAY: 8,
  OBJECT: 9,
} as const;

/** Deepest nesting of arrays and objects either way. */
export const MAX_DEPTH = 64;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Writer {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  constructor(private readonly limit: number) {}

  private reserve(n: number): void {
    const need = this.length + n;
    if (need > this.limit) throw new CodecError(`value larger than the ${this.limit}-byte message limit`);
    if (need <= this.bytes.length) return;
    const grown = new Uint8Array(Math.min(this.limit, Math.max(need, this.bytes.length * 2)));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(n: number): void {
    this.reserve(1);
    this.bytes[this.length++] = n;
  }

  u32(n: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, n, true);
    this.length += 4;
  }

  f64(n: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, n, true);
    this.length += 8;
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }

  /** A string's UTF-8 length and bytes, encoded in place (no copy) when room for the worst case fits. */
  utf8(s: string): void {
    if (this.length + 4 + 3 * s.length > this.limit) {
      const b = utf8.encode(s);
      this.u32(b.length);
      return this.raw(b);
    }
    this.reserve(4 + 3 * s.length);
    const { written } = utf8.encodeInto(s, this.bytes.subarray(this.length + 4));
    this.view.setUint32(this.length, written, true);
    this.length += 4 + written;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

/** `$`, then `.key` and `[index]` down to the value being encoded: built only for an error. */
function pathOf(keys: (string | number)[]): string {
  return '$' + keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
}

function encodeInto(w: Writer, value: unknown, at: (string | number)[], ancestors: object[]): void {
  switch (typeof value) {
    case 'undefined':
      return w.u8(Tag.UNDEFINED);
    case 'boolean':
      return w.u8(value ? Tag.TRUE : Tag.FALSE);
    case 'number':
      w.u8(Tag.NUMBER);
      return w.f64(value);
    case 'string':
      w.u8(Tag.STRING);
      return w.utf8(value);
    case 'bigint': {
      const negative = value < 0n;
      let hex = (negative ? -value : value).toString(16);
      if (value === 0n) hex = '';
      else if (hex.length % 2) hex = `0${hex}`;
      w.u8(Tag.BIGINT);
      w.u8(negative ? 1 : 0);
      w.u32(hex.length / 2);
      for (let i = 0; i < hex.length; i += 2) w.u8(parseInt(hex.slice(i, i + 2), 16));
      return;
    }
    case 'object':
      break;
    default:
      throw new CodecError(`cannot send a ${typeof value} (at ${pathOf(at)})`);
  }
  if (value === null) return w.u8(Tag.NULL);
  if (ancestors.includes(value)) throw new CodecError(`cannot send a cyclic value (at ${pathOf(at)})`);
  if (ancestors.length >= MAX_DEPTH)
    throw new CodecError(`value nested deeper than ${MAX_DEPTH} (at ${pathOf(at)})`);
  if (value instanceof Uint8Array) {
    w.u8(Tag.BYTES);
    w.u32(value.length);
    return w.raw(value);
  }
  ancestors.push(value);
  if (Array.isArray(value)) {
    w.u8(Tag.ARRAY);
    w.u32(value.length);
    for (let i = 0; i < value.length; i++) {
      at.push(i);
      encodeInto(w, value[i], at, ancestors);
      at.pop();
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new CodecError(`cannot send a ${describe(value)} (at ${pathOf(at)}): only plain objects`);
    }
    const keys = Object.keys(value);
    w.u8(Tag.OBJECT);
    w.u32(keys.length);
    for (const key of keys) {
      w.utf8(key);
      at.push(key);
      encodeInto(w, (value as Record<string, unknown>)[key], at, ancestors);
      at.pop();
    }
  }
  ancestors.pop();
}

/** Encodes `value`; throws `CodecError` naming the path of anything that cannot cross. */
export function encodeValue(value: unknown, limit: number): Uint8Array {
  const w = new Writer(limit);
  encodeInto(w, value, [], []);
  return w.result();
}

class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get left(): number {
    return this.bytes.length - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.left) throw new CodecError(`truncated: ${what} needs ${n} bytes, ${this.left} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u32(what: string): number {
    this.need(4, what);
    const n = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }

  f64(): number {
    this.need(8, 'number');
    const n = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return n;
  }

  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(what: string): string {
    const b = this.take(this.u32(`${what} length`), what);
    try {
      return strictUtf8.decode(b);
    } catch {
      throw new CodecError(`${what} is not valid UTF-8`);
    }
  }
}

function decodeFrom(r: Reader, depth: number): unknown {
  const tag = r.u8('tag');
  switch (tag) {
    case Tag.UNDEFINED:
      return undefined;
    case Tag.NULL:
      return null;
    case Tag.FALSE:
      return false;
    case Tag.TRUE:
      return true;
    case Tag.NUMBER:
      return r.f64();
    case Tag.STRING:
      return r.string('string');
    case Tag.BIGINT: {
      const sign = r.u8('bigint sign');
      const magnitude = r.take(r.u32('bigint length'), 'bigint');
      if (sign > 1) throw new CodecError(`bigint sign ${sign}`);
      if (magnitude.length > 0 && magnitude[0] === 0) throw new CodecError('bigint with a leading zero byte');
      if (magnitude.length === 0 && sign === 1) throw new CodecError('negative zero bigint');
      let n = 0n;
      for (const byte of magnitude) n = (n << 8n) | BigInt(byte);
      return sign ? -n : n;
    }
    case Tag.BYTES:
      return r.take(r.u32('bytes length'), 'bytes');
    case Tag.ARRAY:
    case Tag.OBJECT: {
      if (depth >= MAX_DEPTH) throw new CodecError(`value nested deeper than ${MAX_DEPTH}`);
      const count = r.u32('count');
      // Every element takes at least one byte: a count beyond the bytes left is a lie, refused
      // before anything is allocated for it.
      if (count > r.left) throw new CodecError(`count ${count} exceeds the ${r.left} bytes left`);
      if (tag === Tag.ARRAY) {
        const out: unknown[] = [];
        for (let i = 0; i < count; i++) out.push(decodeFrom(r, depth + 1));
        return out;
      }
      const out: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const key = r.string('key');
        if (Object.prototype.hasOwnProperty.call(out, key)) {
          throw new CodecError(`duplicate key ${JSON.stringify(key)}`);
        }
        Object.defineProperty(out, key, {
          value: decodeFrom(r, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      throw new CodecError(`unknown tag ${tag}`);
  }
}

/** Decodes exactly one value from `bytes` (a private copy: never shared memory the sender can change). */
export function decodeValue(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const value = decodeFrom(r, 0);
  if (r.left !== 0) throw new CodecError(`${r.left} bytes after the value`);
  return value;
}
