// Every byte of Intel's real CRLs counts: CRLs are read strictly and their signature is checked with
// node:crypto over the CRL's own tbsCertList bytes (certificate.ts), so a change to any byte, to the to-be-signed part, the
// algorithm identifiers or the signature, must be refused — never accepted as another CRL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { verifyDcapCollateral } from '../../src/attestation/dcap-collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { clearMemos } from '../../src/attestation/memo.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const collateral = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const trustedRoot = new Uint8Array(readFileSync(new URL('TrustedRootCA.der', DCAP)));
const at = new Date('2025-07-01T00:00:00Z');

for (const field of ['root_ca_crl', 'pck_crl'] as const) {
  test(`${field}: the real CRL verifies, and a flipped bit in any of its bytes is refused`, async () => {
    await verifyDcapCollateral(collateral, { trustedRoot, at });
    const der = Buffer.from(collateral[field], 'hex');
    const codes = new Map<string, number>();
    for (let i = 0; i < der.length; i++) {
      const changed = Buffer.from(der);
      changed[i] ^= 1 << (i % 8);
      clearMemos();
      try {
        await verifyDcapCollateral({ ...collateral, [field]: changed.toString('hex') }, { trustedRoot, at });
        assert.fail(`byte ${i} of ${der.length} changed and the CRL was still accepted`);
      } catch (e) {
        if (!(e instanceof VerificationError || e instanceof FormatError)) throw e;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    }
    // The refusals name the format (the reader is strict), the issuer, or the signature, which
    // catches the many changes that still read as a CRL (times, serials, extensions, the signature).
    const named = ['bad-crl', 'crl-issuer', 'untrusted-root', 'crl-signature'];
    assert.deepEqual(
      [...codes.keys()].filter((c) => !named.includes(c)),
      [],
      JSON.stringify([...codes]),
    );
    assert.ok((codes.get('crl-signature') ?? 0) > der.length / 4, JSON.stringify([...codes]));
  });
}
