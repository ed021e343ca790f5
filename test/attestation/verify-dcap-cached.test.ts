import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { isVerifiedCollateral, verifyDcapCollateral } from '../../src/attestation/dcap-collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const sgxQuote = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
const tdxQuote = new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)));
const sgxColl = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const AT = new Date('2025-07-01T00:00:00Z');

const code = (expected: string) => (e: unknown) =>
  (e instanceof VerificationError || e instanceof FormatError) && e.code === expected;

test('collateral verified once serves many quotes with the same verdict', async () => {
  const verified = await verifyDcapCollateral(sgxColl, { at: AT });
  assert.ok(isVerifiedCollateral(verified));
  assert.equal(verified.tcbInfo.fmspc, '00A067110000');
  for (let i = 0; i < 3; i++) {
    const v = await verifyDcapQuote(sgxQuote, { collateral: verified, at: AT });
    assert.equal(v.status, 'ConfigurationAndSWHardeningNeeded');
  }
});

test('cached collateral is re-checked against the time of each use', async () => {
  const verified = await verifyDcapCollateral(sgxColl, { at: AT });
  await assert.rejects(
    verifyDcapQuote(sgxQuote, { collateral: verified, at: new Date('2025-07-19T11:00:00Z') }),
    (e: unknown) => e instanceof VerificationError && /expired/.test(e.code),
  );
});

test('a look-alike of verified collateral is not trusted', async () => {
  const verified = await verifyDcapCollateral(sgxColl, { at: AT });
  const forged = { ...verified };
  assert.equal(isVerifiedCollateral(forged), false);
  await assert.rejects(verifyDcapQuote(sgxQuote, { collateral: forged, at: AT }), code('bad-collateral'));
});

test("a quote whose PCK CA is not the cached PCK CRL's issuer is refused", async () => {
  const verified = await verifyDcapCollateral(sgxColl, { at: AT });
  await assert.rejects(verifyDcapQuote(tdxQuote, { collateral: verified, at: AT }), code('crl-issuer'));
});

test('collateral for another root is refused up front', async () => {
  const { makePki } = await import('./helpers/dcap-pki.ts');
  const sim = await makePki();
  await assert.rejects(
    verifyDcapCollateral(sgxColl, { at: AT, trustedRoot: sim.rootDer }),
    code('untrusted-root'),
  );
  await assert.rejects(verifyDcapCollateral(sim.collateral, { at: AT }), code('untrusted-root'));
  const intel = await verifyDcapCollateral(sgxColl, { at: AT });
  await assert.rejects(
    verifyDcapQuote(sgxQuote, { collateral: intel, at: AT, trustedRoot: sim.rootDer }),
    code('untrusted-root'),
  );
});
