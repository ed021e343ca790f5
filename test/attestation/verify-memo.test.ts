// The verification caches (memo.ts) keep only what depends on bytes alone: once good evidence has
// warmed them, evidence changed in any byte, used at another time or under another root still fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { BoundedMemo, digestOf } from '../../src/attestation/memo.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const quote = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
const collateral = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const root = new Uint8Array(readFileSync(new URL('TrustedRootCA.der', DCAP)));
const AT = new Date('2025-07-01T00:00:00Z');

const code = (expected: string) => (e: unknown) =>
  (e instanceof VerificationError || e instanceof FormatError) && e.code === expected;

async function warm(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const v = await verifyDcapQuote(quote, { collateral, trustedRoot: root, at: AT });
    assert.equal(v.status, 'ConfigurationAndSWHardeningNeeded');
  }
}

/** `hex` with the nibble at `index` changed. */
function flipHex(hex: string, index: number): string {
  const c = hex[index] === '0' ? '1' : '0';
  return hex.slice(0, index) + c + hex.slice(index + 1);
}

test('after a good quote, a changed quote signature or QE report signature still fails', async () => {
  await warm();
  // The quote signature sits right after the signed data (header + body), 64 bytes.
  const signedLength = 48 + 384;
  const badSignature = quote.slice();
  badSignature[signedLength + 4 + 10] ^= 1;
  await assert.rejects(
    verifyDcapQuote(badSignature, { collateral, trustedRoot: root, at: AT }),
    code('quote-signature'),
  );
  const badBody = quote.slice();
  badBody[48 + 320] ^= 1; // report data
  await assert.rejects(
    verifyDcapQuote(badBody, { collateral, trustedRoot: root, at: AT }),
    code('quote-signature'),
  );
  // QE report signature: after the attestation key (64), the QE report (384).
  const badQe = quote.slice();
  badQe[signedLength + 4 + 64 + 64 + 384 + 5] ^= 1;
  await assert.rejects(
    verifyDcapQuote(badQe, { collateral, trustedRoot: root, at: AT }),
    code('qe-report-signature'),
  );
});

test('after good collateral, the same collateral with one signed byte changed fails', async () => {
  await warm();
  const tcbInfo = collateral.tcb_info.replace('"tcbEvaluationDataNumber":', '"tcbEvaluationDataNumber": ');
  assert.notEqual(tcbInfo, collateral.tcb_info);
  await assert.rejects(
    verifyDcapQuote(quote, { collateral: { ...collateral, tcb_info: tcbInfo }, trustedRoot: root, at: AT }),
    code('tcb-info-signature'),
  );
  await assert.rejects(
    verifyDcapQuote(quote, {
      collateral: { ...collateral, qe_identity_signature: flipHex(collateral.qe_identity_signature, 7) },
      trustedRoot: root,
      at: AT,
    }),
    code('qe-identity-signature'),
  );
  // A CRL's signature covers its bytes: the last byte of the PCK CRL is inside its signature.
  await assert.rejects(
    verifyDcapQuote(quote, {
      collateral: { ...collateral, pck_crl: flipHex(collateral.pck_crl, collateral.pck_crl.length - 3) },
      trustedRoot: root,
      at: AT,
    }),
    (e: unknown) => e instanceof VerificationError || e instanceof FormatError,
  );
  await warm();
});

test('cached collateral does not outlive its windows, nor serve another root', async () => {
  await warm();
  await assert.rejects(
    verifyDcapQuote(quote, { collateral, trustedRoot: root, at: new Date('2025-08-01T00:00:00Z') }),
    (e: unknown) => e instanceof VerificationError && /expired/.test(e.code),
  );
  await assert.rejects(
    verifyDcapQuote(quote, { collateral, trustedRoot: root, at: new Date('2025-06-01T00:00:00Z') }),
    (e: unknown) => e instanceof VerificationError && /expired/.test(e.code),
  );
  const { makePki } = await import('./helpers/dcap-pki.ts');
  const sim = await makePki();
  await assert.rejects(
    verifyDcapQuote(quote, { collateral, trustedRoot: sim.rootDer, at: AT }),
    code('untrusted-root'),
  );
  // And the sim PKI's own evidence does not verify under Intel's root, warm or not.
  await assert.rejects(
    verifyDcapQuote(sim.quote, { collateral: sim.collateral, at: AT }),
    code('untrusted-root'),
  );
});

test('the memo is bounded and keyed by every byte of every part', () => {
  const memo = new BoundedMemo<number>(3);
  for (let i = 0; i < 10; i++) memo.get(String(i), () => i);
  assert.equal(memo.size, 3);
  assert.equal(memo.peek('0'), undefined);
  assert.equal(memo.peek('9'), 9);
  assert.throws(() =>
    memo.get('x', () => {
      throw new Error('no');
    }),
  );
  assert.equal(memo.peek('x'), undefined);
  assert.notEqual(digestOf('ab', 'c'), digestOf('a', 'bc'));
  assert.notEqual(digestOf(new Uint8Array([1])), digestOf(new Uint8Array([1, 0])));
});
