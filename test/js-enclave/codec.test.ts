// The value codec of the JavaScript enclave's calls: every type round-trips, and hostile bytes —
// truncated, flipped, oversized counts, deep nesting, bad UTF-8, non-canonical bigints, duplicate
// keys, trailing bytes — are refused with a CodecError, never a crash or a huge allocation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CodecError, MAX_DEPTH, decodeValue, encodeValue } from '../../src/interface/js-enclave-codec.ts';

const LIMIT = 1 << 20;
const roundTrip = (v: unknown): unknown => decodeValue(encodeValue(v, LIMIT));
const refused = (bytes: Uint8Array, match: RegExp): void =>
  assert.throws(
    () => decodeValue(bytes),
    (e: unknown) => e instanceof CodecError && match.test(e.message),
  );

const sample = {
  n: [0, -0, 1.5, -1e300, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER],
  big: [0n, 1n, -1n, 255n, 256n, -(2n ** 200n) + 7n],
  s: ['', 'ascii', 'ünïcødé ✓ 𝄞'],
  bytes: [new Uint8Array(0), Uint8Array.of(0, 255, 7)],
  misc: [undefined, null, true, false],
  nested: { a: { b: [[{ c: 'd' }]] }, '': 'empty key' },
};

describe('js-enclave codec', () => {
  it('round-trips every supported type, keeping -0, NaN, bigint sign and byte values', () => {
    assert.deepEqual(roundTrip(sample), sample);
    assert.ok(Object.is(roundTrip(-0) as number, -0));
    const buf = roundTrip(Buffer.from('hi'));
    assert.ok(buf instanceof Uint8Array && !Buffer.isBuffer(buf), 'a Buffer arrives as a plain Uint8Array');
  });

  it('keeps a __proto__ key as data, never as a prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}}') as object;
    const out = roundTrip(hostile) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { polluted: true });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('refuses to encode what cannot cross, naming where it is', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const cases: [unknown, RegExp][] = [
      [{ f: () => 1 }, /function \(at \$\.f\)/],
      [[Symbol('x')], /symbol \(at \$\[0\]\)/],
      [new Map(), /Map .*only plain objects/],
      [new Date(0), /Date/],
      [new Uint16Array(2), /Uint16Array/],
      [cyclic, /cyclic/],
      ['x'.repeat(2000), /message limit/],
    ];
    for (const [value, match] of cases) {
      assert.throws(
        () => encodeValue(value, 1024),
        (e: unknown) => e instanceof CodecError && match.test(e.message),
      );
    }
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
    assert.throws(() => encodeValue(deep, LIMIT), /nested deeper/);
  });

  it('refuses every truncation of a valid message', () => {
    const bytes = encodeValue(sample, LIMIT);
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decodeValue(bytes.subarray(0, n)), CodecError, `prefix of ${n} bytes`);
    }
  });

  it('refuses trailing bytes, unknown tags, lying counts and lengths before allocating', () => {
    refused(Uint8Array.of(1, 1), /1 bytes after the value/);
    refused(Uint8Array.of(42), /unknown tag 42/);
    refused(Uint8Array.of(8, 0xff, 0xff, 0xff, 0xff), /count 4294967295 exceeds/);
    refused(Uint8Array.of(9, 0xff, 0xff, 0xff, 0x7f, 0), /count .* exceeds/);
    refused(Uint8Array.of(7, 0xff, 0xff, 0xff, 0xff, 1, 2), /truncated: bytes needs 4294967295/);
    refused(Uint8Array.of(5, 10, 0, 0, 0, 0x61), /truncated: string/);
  });

  it('refuses bad UTF-8, non-canonical bigints and duplicate keys', () => {
    refused(Uint8Array.of(5, 2, 0, 0, 0, 0xc3, 0x28), /not valid UTF-8/);
    refused(Uint8Array.of(6, 0, 2, 0, 0, 0, 0, 1), /leading zero/);
    refused(Uint8Array.of(6, 1, 0, 0, 0, 0), /negative zero/);
    refused(Uint8Array.of(6, 2, 1, 0, 0, 0, 1), /bigint sign 2/);
    const dup = Uint8Array.of(9, 2, 0, 0, 0, 1, 0, 0, 0, 0x6b, 1, 1, 0, 0, 0, 0x6b, 1);
    refused(dup, /duplicate key "k"/);
  });

  it('refuses nesting deeper than the limit without exhausting the stack', () => {
    const bytes = new Uint8Array(5 * 100_000 + 1);
    for (let i = 0; i < 100_000; i++) bytes.set([8, 1, 0, 0, 0], i * 5);
    refused(bytes, /nested deeper than 64/);
  });

  it('never crashes on flipped bytes: each decodes or is refused with a CodecError', () => {
    const bytes = encodeValue(sample, LIMIT);
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 2000; round++) {
      const copy = bytes.slice();
      for (let k = 0; k <= rand(3); k++) copy[rand(copy.length)] ^= 1 << rand(8);
      try {
        decodeValue(copy);
      } catch (error) {
        assert.ok(error instanceof CodecError, `round ${round}: ${String(error)}`);
      }
    }
  });
});
