/**
 * SIGSTRUCT (Intel SDK `arch.h` enclave_css_t, 1808 bytes): the enclave signer's RSA-3072 (e = 3)
 * signature over the enclave's identity. MRSIGNER = SHA-256 of the little-endian modulus.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, constants } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { FormatError, Reader, bigIntToLe, bytesEqual, concat, leToBigInt, reversed } from './bytes.ts';

export const SIGSTRUCT_SIZE = 1808;
const KEY_SIZE = 384;
/** Fixed HEADER and HEADER2 values required by EINIT. */
const HEADER = Uint8Array.from([6, 0, 0, 0, 0xe1, 0, 0, 0, 0, 0, 1, 0]);
const HEADER2 = Uint8Array.from([1, 1, 0, 0, 0x60, 0, 0, 0, 0x60, 0, 0, 0, 1, 0, 0, 0]);
/** TYPE bit 31 marks a debug-signer (non-production) SIGSTRUCT. */
const TYPE_DEBUG = 0x80000000;

/** The signed identity fields of a SIGSTRUCT. */
export interface SigstructBody {
  /** TYPE bit 31: a debug (pre-production) signature. */
  debugType: boolean;
  vendor: number;
  /** DATE as BCD 0xYYYYMMDD (see `bcdDate`). */
  date: number;
  /** HWVERSION (0 for enclaves). */
  hwVersion: number;
  miscSelect: number;
  miscMask: number;
  /** ISVFAMILYID, 16 bytes (KSS). */
  isvFamilyId: Uint8Array;
  /** ATTRIBUTES (FLAGS u64 LE || XFRM u64 LE), 16 bytes. */
  attributes: Uint8Array;
  attributeMask: Uint8Array;
  /** MRENCLAVE the signer vouches for, 32 bytes. */
  enclaveHash: Uint8Array;
  /** ISVEXTPRODID, 16 bytes (KSS). */
  isvExtProdId: Uint8Array;
  isvProdId: number;
  isvSvn: number;
}

/** A parsed SIGSTRUCT: the body plus the key material. Byte fields are as stored (little-endian). */
export interface Sigstruct extends SigstructBody {
  modulus: Uint8Array;
  exponent: number;
  signature: Uint8Array;
  q1: Uint8Array;
  q2: Uint8Array;
  /** SHA-256 of the little-endian modulus. */
  mrSigner: Uint8Array;
}

/** A SIGSTRUCT that does not verify (the layout itself is fine). */
export class SigstructError extends Error {
  override name = 'SigstructError';
}

/** DATE field from a calendar date: each decimal digit in one nibble (2016-01-09 -> 0x20160109). */
export function bcdDate(year: number, month: number, day: number): number {
  const digits = `${String(year).padStart(4, '0')}${String(month).padStart(2, '0')}${String(day).padStart(2, '0')}`;
  return Number.parseInt(digits, 16);
}

/** MRSIGNER for a little-endian RSA modulus. */
export function mrSignerOf(modulusLe: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(modulusLe).digest());
}

function fixed(name: string, bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

/** Bytes 0..127: HEADER, TYPE, VENDOR, DATE, HEADER2, HWVERSION, reserved. */
function encodeHeader(body: SigstructBody): Uint8Array {
  const out = new Uint8Array(128);
  const v = new DataView(out.buffer);
  out.set(HEADER, 0);
  v.setUint32(12, body.debugType ? TYPE_DEBUG : 0, true);
  v.setUint32(16, body.vendor, true);
  v.setUint32(20, body.date, true);
  out.set(HEADER2, 24);
  v.setUint32(40, body.hwVersion, true);
  return out;
}

/** Bytes 900..1027: MISCSELECT ... ISVSVN. */
function encodeBody(body: SigstructBody): Uint8Array {
  const out = new Uint8Array(128);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.miscSelect, true);
  v.setUint32(4, body.miscMask, true);
  out.set(fixed('isvFamilyId', body.isvFamilyId, 16), 12);
  out.set(fixed('attributes', body.attributes, 16), 28);
  out.set(fixed('attributeMask', body.attributeMask, 16), 44);
  out.set(fixed('enclaveHash', body.enclaveHash, 32), 60);
  out.set(fixed('isvExtProdId', body.isvExtProdId, 16), 108);
  v.setUint16(124, body.isvProdId, true);
  v.setUint16(126, body.isvSvn, true);
  return out;
}

function rsaModulus(key: KeyObject): bigint {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || jwk.n === undefined || jwk.e === undefined)
    throw new SigstructError('not an RSA key');
  if (jwk.e !== 'Aw') throw new SigstructError('SIGSTRUCT keys must have public exponent 3');
  const n = BigInt('0x' + Buffer.from(jwk.n, 'base64url').toString('hex'));
  if (n >> 3071n !== 1n) throw new SigstructError('SIGSTRUCT keys must be RSA-3072');
  return n;
}

/** Q1 = floor(s² / m), Q2 = floor((s³ − Q1·s·m) / m): lets EINIT check s³ mod m without division. */
function quotients(s: bigint, m: bigint): [Uint8Array, Uint8Array] {
  const q1 = (s * s) / m;
  const q2 = (s * s * s - q1 * s * m) / m;
  return [bigIntToLe(q1, KEY_SIZE), bigIntToLe(q2, KEY_SIZE)];
}

/**
 * Signs `body` with an RSA-3072 e=3 private key (PEM or KeyObject): RSASSA-PKCS1-v1_5 SHA-256 over
 * bytes 0..127 || 900..1027. Deterministic, so the same key and body give the same bytes.
 */
export function signSigstruct(body: SigstructBody, privateKey: KeyObject | string): Uint8Array {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const m = rsaModulus(createPublicKey(key));
  const header = encodeHeader(body);
  const signed = encodeBody(body);
  const sigBe = sign('sha256', concat(header, signed), { key, padding: constants.RSA_PKCS1_PADDING });
  const s = BigInt('0x' + sigBe.toString('hex'));
  const [q1, q2] = quotients(s, m);
  const out = new Uint8Array(SIGSTRUCT_SIZE);
  out.set(header, 0);
  out.set(bigIntToLe(m, KEY_SIZE), 128);
  new DataView(out.buffer).setUint32(512, 3, true);
  out.set(reversed(sigBe), 516);
  out.set(signed, 900);
  out.set(q1, 1040);
  out.set(q2, 1424);
  return out;
}

/** Parses a SIGSTRUCT's layout (fixed headers, size); does not check the signature (see `verifySigstruct`). */
export function parseSigstruct(bytes: Uint8Array): Sigstruct {
  if (bytes.length !== SIGSTRUCT_SIZE) {
    throw new FormatError('bad-length', `SIGSTRUCT must be ${SIGSTRUCT_SIZE} bytes, got ${bytes.length}`);
  }
  const r = new Reader(bytes, 0, 'SIGSTRUCT');
  if (!bytesEqual(r.bytesOf(12, 'HEADER'), HEADER))
    throw new FormatError('bad-header', 'SIGSTRUCT: bad HEADER');
  const type = r.u32('TYPE');
  if ((type & ~TYPE_DEBUG) !== 0) throw new FormatError('bad-header', `SIGSTRUCT: bad TYPE ${type}`);
  const vendor = r.u32('VENDOR');
  const date = r.u32('DATE');
  if (!bytesEqual(r.bytesOf(16, 'HEADER2'), HEADER2))
    throw new FormatError('bad-header', 'SIGSTRUCT: bad HEADER2');
  const hwVersion = r.u32('HWVERSION');
  r.bytesOf(84, 'reserved');
  const modulus = r.bytesOf(KEY_SIZE, 'MODULUS');
  const exponent = r.u32('EXPONENT');
  if (exponent !== 3) throw new FormatError('bad-exponent', `SIGSTRUCT: exponent must be 3, got ${exponent}`);
  const signature = r.bytesOf(KEY_SIZE, 'SIGNATURE');
  const miscSelect = r.u32('MISCSELECT');
  const miscMask = r.u32('MISCMASK');
  r.bytesOf(4, 'reserved');
  const isvFamilyId = r.bytesOf(16, 'ISVFAMILYID');
  const attributes = r.bytesOf(16, 'ATTRIBUTES');
  const attributeMask = r.bytesOf(16, 'ATTRIBUTEMASK');
  const enclaveHash = r.bytesOf(32, 'ENCLAVEHASH');
  r.bytesOf(16, 'reserved');
  const isvExtProdId = r.bytesOf(16, 'ISVEXTPRODID');
  const isvProdId = r.u16('ISVPRODID');
  const isvSvn = r.u16('ISVSVN');
  r.bytesOf(12, 'reserved');
  const q1 = r.bytesOf(KEY_SIZE, 'Q1');
  const q2 = r.bytesOf(KEY_SIZE, 'Q2');
  return {
    debugType: type === TYPE_DEBUG,
    vendor,
    date,
    hwVersion,
    miscSelect,
    miscMask,
    isvFamilyId,
    attributes,
    attributeMask,
    enclaveHash,
    isvExtProdId,
    isvProdId,
    isvSvn,
    modulus,
    exponent,
    signature,
    q1,
    q2,
    mrSigner: mrSignerOf(modulus),
  };
}

/**
 * Parses and verifies a SIGSTRUCT: RSA-3072 e=3 PKCS#1 v1.5 signature over the two signed regions,
 * and Q1/Q2 consistent with it (EINIT rejects wrong quotients). Returns the parsed structure.
 */
export function verifySigstruct(bytes: Uint8Array): Sigstruct {
  const parsed = parseSigstruct(bytes);
  const m = leToBigInt(parsed.modulus);
  if (m >> 3071n !== 1n) throw new SigstructError('modulus is not 3072 bits');
  const key = createPublicKey({
    key: { kty: 'RSA', n: Buffer.from(reversed(parsed.modulus)).toString('base64url'), e: 'Aw' },
    format: 'jwk',
  });
  const message = concat(bytes.subarray(0, 128), bytes.subarray(900, 1028));
  const sigBe = reversed(parsed.signature);
  if (!verify('sha256', message, { key, padding: constants.RSA_PKCS1_PADDING }, sigBe)) {
    throw new SigstructError('SIGSTRUCT signature does not verify');
  }
  const [q1, q2] = quotients(leToBigInt(parsed.signature), m);
  if (!bytesEqual(q1, parsed.q1) || !bytesEqual(q2, parsed.q2))
    throw new SigstructError('SIGSTRUCT Q1/Q2 are wrong');
  return parsed;
}
