import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import type { VerificationErrorCode } from '../../src/attestation/errors.ts';
import { INTEL_SGX_ROOT_CA_DER, verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const load = (kind: 'sgx' | 'tdx'): { quote: Uint8Array; collateral: Collateral } => ({
  quote: new Uint8Array(readFileSync(new URL(`${kind}_quote`, DCAP))),
  collateral: JSON.parse(readFileSync(new URL(`${kind}_quote_collateral.json`, DCAP), 'utf8')) as Collateral,
});
const AT = new Date('2025-07-01T00:00:00Z');

/** Independent verifier, test-only. */
const qvl = createRequire(import.meta.url)('@phala/dcap-qvl') as {
  verify(
    quote: Uint8Array,
    collateral: Collateral,
    nowSecs: number,
  ): { status: string; advisory_ids: string[] };
};

async function rejects(p: Promise<unknown>, code: VerificationErrorCode | string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VerificationError || e instanceof FormatError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('the product root is the Intel SGX Root CA of the vectors', () => {
  assert.deepEqual(INTEL_SGX_ROOT_CA_DER, new Uint8Array(readFileSync(new URL('TrustedRootCA.der', DCAP))));
});

test('SGX v3 quote at 2025-07-01: ConfigurationAndSWHardeningNeeded, INTEL-SA-00289 + INTEL-SA-00615', async () => {
  const { quote, collateral } = load('sgx');
  const v = await verifyDcapQuote(quote, { collateral, at: AT });
  assert.equal(v.status, 'ConfigurationAndSWHardeningNeeded');
  assert.deepEqual([...v.advisoryIds].sort(), ['INTEL-SA-00289', 'INTEL-SA-00615']);
  assert.equal(v.fmspc, '00a067110000');
  assert.equal(v.qeStatus.status, 'UpToDate');
});

test('TDX v4 quote at 2025-07-01: UpToDate', async () => {
  const { quote, collateral } = load('tdx');
  const v = await verifyDcapQuote(quote, { collateral, at: AT });
  assert.equal(v.status, 'UpToDate');
  assert.deepEqual(v.advisoryIds, []);
  assert.equal(v.tdxModuleStatus?.status, 'UpToDate');
});

test('verdicts agree with @phala/dcap-qvl', async () => {
  for (const kind of ['sgx', 'tdx'] as const) {
    const { quote, collateral } = load(kind);
    const ours = await verifyDcapQuote(quote, { collateral, at: AT });
    const theirs = qvl.verify(quote, collateral, AT.getTime() / 1000);
    assert.equal(ours.status, theirs.status, kind);
    assert.deepEqual([...ours.advisoryIds].sort(), [...theirs.advisory_ids].sort(), kind);
  }
});

test('today (and any date after 2025-07-19) both fail: the collateral has expired', async () => {
  for (const kind of ['sgx', 'tdx'] as const) {
    const { quote, collateral } = load(kind);
    for (const at of [undefined, new Date('2025-07-20T00:00:00Z'), new Date('2026-05-01T00:00:00Z')]) {
      await assert.rejects(verifyDcapQuote(quote, { collateral, at }), (e: unknown) => {
        assert.ok(e instanceof VerificationError);
        assert.match(e.code, /expired/);
        return true;
      });
      assert.throws(() => qvl.verify(quote, collateral, Math.floor((at ?? new Date()).getTime() / 1000)));
    }
  }
});

test('before the TCB info was issued: tcb-info-expired (not yet valid)', async () => {
  const { quote, collateral } = load('sgx');
  await rejects(
    verifyDcapQuote(quote, { collateral, at: new Date('2025-06-19T10:56:10Z') }),
    'tcb-info-expired',
  );
});

test('a verifier trusting another root refuses Intel evidence', async () => {
  const { quote, collateral } = load('sgx');
  const { X509CertificateGenerator } = await import('@peculiar/x509');
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const other = await X509CertificateGenerator.createSelfSigned({
    name: 'CN=Cloister Sim Root CA',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    notBefore: new Date('2020-01-01'),
    notAfter: new Date('2040-01-01'),
  });
  await rejects(
    verifyDcapQuote(quote, { collateral, at: AT, trustedRoot: new Uint8Array(other.rawData) }),
    'untrusted-root',
  );
});
