import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError, toHex } from '../../src/attestation/bytes.ts';
import { INTEL_QE_VENDOR_ID, MAX_QUOTE_SIZE, parseQuote } from '../../src/attestation/quote.ts';
import {
  SgxAttributeFlags,
  TD_ATTRIBUTE_DEBUG,
  sgxAttributeFlags,
} from '../../src/attestation/report-body.ts';
import { SNP_POLICY_DEBUG, parseSnpReport } from '../../src/attestation/snp-report.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const SEV = new URL('go-sev-guest/', VECTORS);
const sgx = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
const tdx = new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)));
const snp = new Uint8Array(readFileSync(new URL('attestation.bin', SEV)));

/** Asserts that parsing fails with a FormatError of the given code. */
function rejects(parse: () => unknown, code: string): void {
  assert.throws(parse, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function patched(bytes: Uint8Array, at: number, write: (v: DataView) => void): Uint8Array {
  const copy = Uint8Array.from(bytes);
  write(new DataView(copy.buffer, at));
  return copy;
}

test('SGX quote v3 vector parses', () => {
  const q = parseQuote(sgx);
  assert.equal(q.kind, 'sgx');
  assert.equal(q.header.version, 3);
  assert.equal(q.header.qeSvn, 10);
  assert.equal(q.header.pceSvn, 15);
  assert.equal(q.signedData.length, 432);
  assert.equal(q.certification.qeAuthData.length, 32);
  assert.equal(q.certification.pckChainPem.match(/BEGIN CERTIFICATE/g)?.length, 3);
  assert.equal(
    toHex(q.certification.qeReport.mrSigner),
    '8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff',
  );
  if (q.kind !== 'sgx') throw new Error('unreachable');
  assert.equal(toHex(q.body.cpuSvn), '0b0b1a18ffff04000000000000000000');
  assert.equal(toHex(q.header.qeVendorId), INTEL_QE_VENDOR_ID);
  assert.equal(sgxAttributeFlags(q.body), SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT);
  assert.equal(sgxAttributeFlags(q.certification.qeReport) & SgxAttributeFlags.DEBUG, 0n);
});

test('TDX quote v4 vector parses (nested certification data 6 -> 5, trailing zero padding)', () => {
  const q = parseQuote(tdx);
  assert.equal(q.kind, 'tdx');
  assert.equal(q.signedData.length, 632);
  assert.equal(q.certification.pckChainPem.match(/BEGIN CERTIFICATE/g)?.length, 3);
  if (q.kind !== 'tdx') throw new Error('unreachable');
  assert.equal(toHex(q.body.teeTcbSvn), '06010300000000000000000000000000');
  const tdAttributes = new DataView(q.body.tdAttributes.buffer, q.body.tdAttributes.byteOffset, 8);
  assert.equal(tdAttributes.getBigUint64(0, true) & TD_ATTRIBUTE_DEBUG, 0n);
});

test('truncation at every length is a FormatError, never a crash', () => {
  for (const [quote, fullLength] of [
    [sgx, 4600],
    [tdx, 4936],
  ] as const) {
    for (let n = 0; n < fullLength; n++) {
      assert.throws(() => parseQuote(quote.subarray(0, n)), FormatError, `length ${n}`);
    }
    // The TDX padding may be cut anywhere.
    for (let n = fullLength; n <= quote.length; n++) parseQuote(quote.subarray(0, n));
  }
  rejects(() => parseQuote(sgx.subarray(0, 47)), 'truncated');
  rejects(() => parseQuote(sgx.subarray(0, 435)), 'truncated');
  rejects(() => parseQuote(sgx.subarray(0, 4599)), 'bad-length');
});

test('random byte flips give a parse or a FormatError, nothing else', () => {
  let seed = 1;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (const quote of [sgx, tdx]) {
    for (let i = 0; i < 2000; i++) {
      const copy = Uint8Array.from(quote);
      for (let k = 0; k < 3; k++) copy[rand(1300)] = rand(256);
      try {
        parseQuote(copy);
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
      }
    }
  }
});

test('hostile header fields', () => {
  rejects(() => parseQuote(patched(sgx, 0, (v) => v.setUint16(0, 5, true))), 'unsupported-version');
  rejects(() => parseQuote(patched(sgx, 0, (v) => v.setUint16(0, 4, true))), 'unsupported-tee-type');
  rejects(() => parseQuote(patched(tdx, 0, (v) => v.setUint16(0, 3, true))), 'unsupported-tee-type');
  rejects(() => parseQuote(patched(sgx, 2, (v) => v.setUint16(0, 3, true))), 'unsupported-key-type');
  rejects(() => parseQuote(patched(tdx, 4, (v) => v.setUint32(0, 0x80, true))), 'unsupported-tee-type');
});

test('huge and inconsistent length fields', () => {
  // SGX: signature data length at 432, QE auth size at 1012, cert type/size at 1046/1048.
  rejects(() => parseQuote(patched(sgx, 432, (v) => v.setUint32(0, 0xffffffff, true))), 'bad-length');
  rejects(() => parseQuote(patched(sgx, 432, (v) => v.setUint32(0, 4163, true))), 'truncated');
  rejects(() => parseQuote(patched(sgx, 1012, (v) => v.setUint16(0, 0xffff, true))), 'truncated');
  rejects(() => parseQuote(patched(sgx, 1048, (v) => v.setUint32(0, 0xffffffff, true))), 'truncated');
  rejects(() => parseQuote(patched(sgx, 1048, (v) => v.setUint32(0, 100, true))), 'bad-pem');
  const longer = patched(Uint8Array.from([...sgx, ...new Uint8Array(10)]), 432, (v) =>
    v.setUint32(0, 4174, true),
  );
  rejects(() => parseQuote(longer), 'bad-length');
  rejects(() => parseQuote(patched(sgx, 1046, (v) => v.setUint16(0, 1, true))), 'unsupported-cert-type');
  rejects(() => parseQuote(patched(sgx, 1052, (v) => v.setUint8(0, 0x41))), 'bad-pem');
  // TDX: outer type 6 at 764 / size 766, inner auth size at 1218, inner type/size at 1252/1254.
  rejects(() => parseQuote(patched(tdx, 764, (v) => v.setUint16(0, 5, true))), 'unsupported-cert-type');
  rejects(() => parseQuote(patched(tdx, 766, (v) => v.setUint32(0, 0xffffffff, true))), 'truncated');
  rejects(() => parseQuote(patched(tdx, 1218, (v) => v.setUint16(0, 0xffff, true))), 'truncated');
  rejects(() => parseQuote(patched(tdx, 1254, (v) => v.setUint32(0, 0x7fffffff, true))), 'truncated');
});

test('oversized and trailing data', () => {
  rejects(() => parseQuote(new Uint8Array(MAX_QUOTE_SIZE + 1)), 'oversized');
  rejects(() => parseQuote(Uint8Array.from([...sgx, 1])), 'trailing-data');
  rejects(() => parseQuote(patched(tdx, 5000, (v) => v.setUint8(0, 1))), 'trailing-data');
  parseQuote(Uint8Array.from([...sgx, 0, 0]));
});

test('SEV-SNP report v2 vector parses', () => {
  const r = parseSnpReport(snp);
  assert.equal(r.version, 2);
  assert.equal(r.signatureAlgo, 1);
  assert.equal(toHex(r.reportData.subarray(0, 5)), '0102030405');
  assert.equal(r.policy & SNP_POLICY_DEBUG, SNP_POLICY_DEBUG);
  assert.deepEqual(
    {
      bl: r.reportedTcb.bootloader,
      tee: r.reportedTcb.tee,
      snp: r.reportedTcb.snp,
      ucode: r.reportedTcb.microcode,
    },
    { bl: 2, tee: 0, snp: 5, ucode: 68 },
  );
});

test('SEV-SNP report: wrong sizes and versions', () => {
  rejects(() => parseSnpReport(snp.subarray(0, 1183)), 'bad-length');
  rejects(() => parseSnpReport(Uint8Array.from([...snp, 0])), 'bad-length');
  rejects(() => parseSnpReport(patched(snp, 0, (v) => v.setUint32(0, 1, true))), 'unsupported-version');
  rejects(
    () => parseSnpReport(patched(snp, 0, (v) => v.setUint32(0, 0xffffffff, true))),
    'unsupported-version',
  );
});
