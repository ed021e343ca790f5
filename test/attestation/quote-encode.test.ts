import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { toHex } from '../../src/attestation/bytes.ts';
import { parseQuote } from '../../src/attestation/quote.ts';
import type { Quote } from '../../src/attestation/quote.ts';
import { encodeQuote, encodeQuoteHeader, quoteSignedData } from '../../src/attestation/quote-encode.ts';
import { encodeSgxReportBody } from '../../src/attestation/report-body.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const sgx = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
const tdx = new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)));

function reencode(q: Quote): Uint8Array {
  // The PEM is re-encoded from the parsed text, NUL-terminated like the vectors.
  return encodeQuote({
    header: q.header,
    body: q.body.raw,
    signature: q.signature,
    attestationKey: q.attestationKey,
    qeReport: q.certification.qeReport.raw,
    qeReportSignature: q.certification.qeReportSignature,
    qeAuthData: q.certification.qeAuthData,
    pckChainPem: q.certification.pckChainPem,
  });
}

test('parse then encode gives back the SGX v3 vector byte for byte', () => {
  const q = parseQuote(sgx);
  assert.ok(Buffer.from(reencode(q)).equals(sgx));
  assert.equal(toHex(quoteSignedData(q.header, q.body.raw)), toHex(q.signedData));
});

test('parse then encode gives back the TDX v4 vector (without its zero padding)', () => {
  assert.ok(Buffer.from(reencode(parseQuote(tdx))).equals(tdx.subarray(0, 4936)));
});

test('SGX report body fields round-trip', () => {
  const qe = parseQuote(sgx).certification.qeReport;
  const { raw, ...fields } = qe;
  assert.equal(toHex(encodeSgxReportBody(fields)), toHex(raw));
  assert.equal(
    encodeSgxReportBody({}).every((b) => b === 0),
    true,
  );
  assert.throws(() => encodeSgxReportBody({ mrEnclave: new Uint8Array(31) }), RangeError);
});

test('encoders refuse wrong sizes', () => {
  const q = parseQuote(sgx);
  assert.throws(() => encodeQuoteHeader({ ...q.header, qeVendorId: new Uint8Array(15) }), RangeError);
  assert.throws(() => quoteSignedData(q.header, new Uint8Array(584)), RangeError);
  assert.throws(
    () =>
      encodeQuote({
        header: q.header,
        body: q.body.raw,
        signature: q.signature.subarray(0, 63),
        attestationKey: q.attestationKey,
        qeReport: q.certification.qeReport.raw,
        qeReportSignature: q.certification.qeReportSignature,
        qeAuthData: q.certification.qeAuthData,
        pckChainPem: q.certification.pckChainPem,
      }),
    RangeError,
  );
});
