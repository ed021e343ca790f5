import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MrEnclaveBuilder, SecinfoFlags } from '../../src/tee/mrenclave.ts';
import { SgxsError, measureSgxs, parseSgxs } from '../../src/tee/sgxs.ts';
import { VECTORS } from './helpers/vectors.ts';

const FORTANIX = new URL('fortanix-rust-sgx/', VECTORS);
const sgxs = readFileSync(new URL('test_enclave.sgxs', FORTANIX));
const sig = readFileSync(new URL('test_enclave.sig', FORTANIX));

/** Builds a 64-byte block from hex written out by hand (tag, fields), zero-padded. */
function block(hex: string): Buffer {
  const b = Buffer.alloc(64);
  Buffer.from(hex.replace(/\s/g, ''), 'hex').copy(b);
  return b;
}

test('SecinfoFlags: permissions in bits 0..2, page type in bits 8..15', () => {
  assert.equal(SecinfoFlags.R | SecinfoFlags.PT_REG, 0x201n);
  assert.equal(SecinfoFlags.PT_TCS, 0x100n);
  assert.equal(SecinfoFlags.R | SecinfoFlags.W | SecinfoFlags.X, 7n);
});

test('ECREATE only: hash of the hand-written 64-byte block', () => {
  // "ECREATE\0", SSAFRAMESIZE=1 (u32 LE), SIZE=0x200000 (u64 LE), zeros.
  const expected = createHash('sha256').update(block('4543524541544500 01000000 0000200000000000')).digest();
  assert.deepEqual(Buffer.from(new MrEnclaveBuilder(0x200000n, 1).digest()), expected);
});

test('EADD + EEXTEND: hand-written blocks', () => {
  const page = new Uint8Array(4096).map((_, i) => i & 0xff);
  const b = new MrEnclaveBuilder(0x4000n, 2);
  b.addPage(0x1000n, page, SecinfoFlags.R | SecinfoFlags.W | SecinfoFlags.PT_REG);
  b.addPage(0x2000n, page, SecinfoFlags.PT_TCS, false);
  const h = createHash('sha256')
    .update(block('4543524541544500 02000000 0040000000000000'))
    .update(block('4541444400000000 0010000000000000 0302000000000000'));
  for (let i = 0; i < 16; i++) {
    const off = Buffer.alloc(8);
    off.writeBigUInt64LE(0x1000n + BigInt(i * 256));
    h.update(block('45455854454e4400' + off.toString('hex'))).update(page.subarray(i * 256, i * 256 + 256));
  }
  h.update(block('4541444400000000 0020000000000000 0001000000000000'));
  assert.deepEqual(Buffer.from(b.digest()), h.digest());
  // digest() does not finalize: calling it twice gives the same value.
  assert.deepEqual(b.digest(), b.digest());
});

test('addPage equals EADD and 16 EEXTENDs, page after page', () => {
  const pages = [0x11, 0x22, 0x33].map((seed) => new Uint8Array(4096).map((_, i) => (i * seed) & 0xff));
  const byPage = new MrEnclaveBuilder(0x8000n, 1);
  const byRecord = new MrEnclaveBuilder(0x8000n, 1);
  for (const [n, page] of pages.entries()) {
    const offset = BigInt((n + 1) * 4096);
    byPage.addPage(offset, page, SecinfoFlags.PT_REG | SecinfoFlags.R);
    byRecord.eadd(offset, SecinfoFlags.PT_REG | SecinfoFlags.R);
    for (let i = 0; i < 4096; i += 256) byRecord.eextend(offset + BigInt(i), page.subarray(i, i + 256));
  }
  assert.deepEqual(byPage.digest(), byRecord.digest());
});

test('MrEnclaveBuilder rejects misaligned offsets and wrong sizes', () => {
  const b = new MrEnclaveBuilder(0x4000n, 1);
  assert.throws(() => b.eadd(0x800n, SecinfoFlags.PT_REG), RangeError);
  assert.throws(() => b.eextend(0x80n, new Uint8Array(256)), RangeError);
  assert.throws(() => b.eextend(0n, new Uint8Array(255)), RangeError);
  assert.throws(() => b.addPage(0n, new Uint8Array(4095), SecinfoFlags.PT_REG), RangeError);
  assert.throws(() => new MrEnclaveBuilder(-1n, 1), RangeError);
  assert.throws(() => new MrEnclaveBuilder(1n << 64n, 1), RangeError);
  assert.throws(() => new MrEnclaveBuilder(0n, 2 ** 32), RangeError);
});

test('test_enclave.sgxs replayed through MrEnclaveBuilder = ENCLAVEHASH of test_enclave.sig = sha256(file)', () => {
  const enclaveHash = sig.subarray(960, 992).toString('hex');
  assert.equal(enclaveHash, '784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc');
  const mr = Buffer.from(measureSgxs(sgxs)).toString('hex');
  assert.equal(mr, enclaveHash);
  assert.equal(createHash('sha256').update(sgxs).digest('hex'), enclaveHash);
  const records = parseSgxs(sgxs);
  assert.deepEqual(records[0], { kind: 'ecreate', ssaFrameSize: 1, size: 0x40000n });
  assert.equal(
    records.filter((r) => r.kind === 'eextend').length * 320 +
      records.filter((r) => r.kind === 'eadd').length * 64 +
      64,
    sgxs.length,
  );
});

test('UNMEASRD records are skipped when measuring', () => {
  const un = Buffer.concat([block('554e4d4541535244 0000000000000000'), Buffer.alloc(256, 7)]);
  // Insert after the first EADD (offset 0) and its first EEXTEND.
  const withUnmeasured = Buffer.concat([sgxs.subarray(0, 128 + 320), un, sgxs.subarray(128 + 320)]);
  assert.deepEqual(measureSgxs(withUnmeasured), measureSgxs(sgxs));
});

test('parseSgxs rejects malformed streams', () => {
  assert.throws(() => parseSgxs(new Uint8Array(0)), /empty/);
  assert.throws(() => parseSgxs(sgxs.subarray(0, 100)), /truncated record header/);
  assert.throws(() => parseSgxs(sgxs.subarray(0, 128 + 64 + 10)), /truncated EEXTEND data/);
  assert.throws(() => parseSgxs(sgxs.subarray(64)), /ECREATE must be the first/);
  assert.throws(() => parseSgxs(Buffer.concat([sgxs.subarray(0, 64), sgxs.subarray(0, 64)])), /ECREATE/);
  const badTag = Buffer.from(sgxs);
  badTag[64] = 0x58;
  assert.throws(() => parseSgxs(badTag), SgxsError);
  assert.throws(() => parseSgxs(block('554e53495a454400')), /UNSIZED/);
  const misaligned = Buffer.from(sgxs);
  misaligned[72] = 0x10; // EADD offset 0x10
  assert.throws(() => parseSgxs(misaligned), /not page aligned/);
  const reserved = Buffer.from(sgxs);
  reserved[63] = 1;
  assert.throws(() => parseSgxs(reserved), /reserved/);
  const outside = Buffer.from(sgxs);
  outside[128 + 9] = 0x10; // first EEXTEND offset 0x1000, but its EADD is page 0
  assert.throws(() => parseSgxs(outside), /outside the preceding EADD page/);
});
