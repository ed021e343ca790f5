import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { AT, makePki } from './helpers/dcap-pki.ts';
import type { PkiOptions } from './helpers/dcap-pki.ts';

/** Independent verifier (test-only), constructed with a custom root. */
const { QuoteVerifier } = createRequire(import.meta.url)('@phala/dcap-qvl') as {
  QuoteVerifier: new (rootDer: Buffer) => {
    verify(
      quote: Buffer,
      collateral: Collateral,
      nowSecs: number,
    ): { status: string; advisory_ids: string[] };
  };
};

type Outcome = { ok: true; status: string; advisories: string[] } | { ok: false };

async function ours(quote: Uint8Array, collateral: Collateral, root: Uint8Array): Promise<Outcome> {
  try {
    const v = await verifyDcapQuote(quote, { collateral, trustedRoot: root, at: AT });
    return { ok: true, status: v.status, advisories: [...v.advisoryIds].sort() };
  } catch {
    return { ok: false };
  }
}

function theirs(quote: Uint8Array, collateral: Collateral, root: Uint8Array): Outcome {
  try {
    const v = new QuoteVerifier(Buffer.from(root)).verify(
      Buffer.from(quote),
      collateral,
      AT.getTime() / 1000,
    );
    return { ok: true, status: v.status, advisories: [...v.advisory_ids].sort() };
  } catch {
    return { ok: false };
  }
}

/** Name, variation, whether the evidence should be accepted. */
const CASES: [string, PkiOptions, boolean][] = [
  ['valid', {}, true],
  ['QE out of date', { qeIsvSvn: 7 }, true],
  ['platform out of date', { cpuSvn: [4, 5, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0] }, true],
  ['PCE SVN out of date', { pceSvn: 12 }, true],
  ['revoked PCK', { revokePck: true }, false],
  ['unbound attestation key', { unboundAttestationKey: true }, false],
  ['QE MRSIGNER mismatch', { qeIdentityMrSigner: '00'.repeat(32) }, false],
  ['debug QE', { qeAttributes: '13000000000000000700000000000000' }, false],
  ['TCB info for another FMSPC', { tcbInfoFmspc: '00906ed50001' }, false],
  ['TCB info expired', { tcbNextUpdate: new Date('2025-05-31T00:00:00Z') }, false],
];

test('verdicts on generated evidence agree with @phala/dcap-qvl', async () => {
  for (const [name, options, accepted] of CASES) {
    const p = await makePki(options);
    const mine = await ours(p.quote, p.collateral, p.rootDer);
    assert.equal(mine.ok, accepted, name);
    assert.deepEqual(mine, theirs(p.quote, p.collateral, p.rootDer), name);
  }
});
