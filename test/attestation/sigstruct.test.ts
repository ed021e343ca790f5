import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FormatError, fromHex, toHex } from '../../src/attestation/bytes.ts';
import {
  SigstructError,
  bcdDate,
  parseSigstruct,
  signSigstruct,
  verifySigstruct,
} from '../../src/attestation/sigstruct.ts';
import type { SigstructBody } from '../../src/attestation/sigstruct.ts';
import { VECTORS } from './helpers/vectors.ts';

const FORTANIX = new URL('fortanix-rust-sgx/', VECTORS);
const sig1 = new Uint8Array(readFileSync(new URL('sig1.sigstruct.bin', FORTANIX)));
const sig1Key = readFileSync(new URL('sig1.key.pem', FORTANIX), 'utf8');
const testEnclaveSig = new Uint8Array(readFileSync(new URL('test_enclave.sig', FORTANIX)));

/** The inputs of sig1.sigstruct.bin, read off the file once and written out here. */
const sig1Body: SigstructBody = {
  debugType: false,
  vendor: 0,
  date: bcdDate(2016, 1, 9),
  hwVersion: 0,
  miscSelect: 0,
  miscMask: 0xffffffff,
  isvFamilyId: new Uint8Array(16),
  attributes: fromHex('04000000000000000300000000000000'),
  attributeMask: fromHex('fdffffffffffffff1bffffffffffffff'),
  enclaveHash: fromHex('c50673624a6cb17c1c6c2a4e6906f47a170c4629b8723781d1017ef376f1a75d'),
  isvExtProdId: new Uint8Array(16),
  isvProdId: 0,
  isvSvn: 0,
};

test('bcdDate', () => {
  assert.equal(bcdDate(2016, 1, 9), 0x20160109);
  assert.equal(bcdDate(2025, 12, 31), 0x20251231);
});

test('sig1.key.pem reproduces sig1.sigstruct.bin byte for byte', () => {
  const signed = signSigstruct(sig1Body, sig1Key);
  assert.equal(toHex(signed), toHex(sig1));
});

test('sig1.sigstruct.bin parses and verifies; MRSIGNER of the SDK test key', () => {
  const s = verifySigstruct(sig1);
  assert.equal(toHex(s.mrSigner), '83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e');
  assert.equal(s.exponent, 3);
  assert.equal(s.date, 0x20160109);
  assert.equal(toHex(s.enclaveHash), toHex(sig1Body.enclaveHash));
});

test('test_enclave.sig parses and verifies', () => {
  const s = verifySigstruct(testEnclaveSig);
  assert.equal(toHex(s.enclaveHash), '784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc');
  assert.equal(s.isvProdId, 0xffff);
  assert.equal(s.date, 0x20161214);
  assert.equal(toHex(s.mrSigner), 'fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542');
});

test('a fresh RSA-3072 e=3 key signs and verifies, debug TYPE round-trips', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 });
  const body = {
    ...sig1Body,
    debugType: true,
    isvProdId: 7,
    isvSvn: 3,
    vendor: 0x8086,
    isvFamilyId: new Uint8Array(16).fill(0xf1),
    isvExtProdId: new Uint8Array(16).fill(0xe1),
  };
  const bytes = signSigstruct(body, privateKey);
  // KSS fields at arch.h's offsets: ISVFAMILYID (912), ISVEXTPRODID (1008); TYPE bit 31 (12).
  assert.equal(toHex(bytes.subarray(912, 928)), 'f1'.repeat(16));
  assert.equal(toHex(bytes.subarray(1008, 1024)), 'e1'.repeat(16));
  assert.equal(toHex(bytes.subarray(12, 16)), '00000080');
  const s = verifySigstruct(bytes);
  assert.deepEqual(s.isvFamilyId, body.isvFamilyId);
  assert.deepEqual(s.isvExtProdId, body.isvExtProdId);
  assert.equal(s.debugType, true);
  assert.equal(s.isvProdId, 7);
  assert.equal(s.isvSvn, 3);
  assert.equal(s.vendor, 0x8086);
});

test('keys other than RSA-3072 e=3 are refused', () => {
  const e65537 = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  assert.throws(() => signSigstruct(sig1Body, e65537), /exponent 3/);
  const small = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey;
  assert.throws(() => signSigstruct(sig1Body, small), /RSA-3072/);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  assert.throws(() => signSigstruct(sig1Body, ec), /RSA/);
});

test('tampering is detected', () => {
  const flip = (at: number): Uint8Array => {
    const b = Uint8Array.from(sig1);
    b[at] ^= 1;
    return b;
  };
  // Signed regions: header date, body enclavehash and ISVSVN.
  for (const at of [20, 960, 1026]) assert.throws(() => verifySigstruct(flip(at)), SigstructError);
  assert.throws(() => verifySigstruct(flip(600)), /signature does not verify/); // SIGNATURE
  assert.throws(() => verifySigstruct(flip(200)), /signature does not verify/); // MODULUS
  assert.throws(() => verifySigstruct(flip(1100)), /Q1\/Q2/);
  assert.throws(() => verifySigstruct(flip(1500)), /Q1\/Q2/);
});

test('malformed layouts are rejected before any crypto', () => {
  assert.throws(
    () => parseSigstruct(sig1.subarray(0, 1807)),
    (e: unknown) => e instanceof FormatError && e.code === 'bad-length',
  );
  assert.throws(() => parseSigstruct(new Uint8Array(1809)), FormatError);
  const badHeader = Uint8Array.from(sig1);
  badHeader[0] = 7;
  assert.throws(() => parseSigstruct(badHeader), /bad HEADER/);
  const badHeader2 = Uint8Array.from(sig1);
  badHeader2[24] = 0;
  assert.throws(() => parseSigstruct(badHeader2), /bad HEADER2/);
  const badExp = Uint8Array.from(sig1);
  badExp[512] = 1;
  assert.throws(() => parseSigstruct(badExp), /exponent must be 3/);
  const badType = Uint8Array.from(sig1);
  badType[12] = 1;
  assert.throws(() => parseSigstruct(badType), /bad TYPE/);
});
