// Gramine's /dev/attestation against a fake tree: the quote file holds a sim quote with the report
// data the test expects (real Gramine produces it when `quote` is read after `user_report_data`).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { GramineError, gramineQuote } from '../../src/tee/gramine.ts';
import { SimQuotingEnclave, simCollateral } from '../../src/tee/sim/quoting.ts';
import { tempDir } from '../helpers/temp.ts';
import { identity, newPlatform } from './helpers/sim.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';

const DATA = new Uint8Array(64).fill(0x5a);
const code = (c: string) => (e: unknown) => e instanceof GramineError && e.code === c;

function fakeDevAttestation(type: string, quote?: Uint8Array): string {
  const root = tempDir('cloister-gramine-');
  writeFileSync(join(root, 'attestation_type'), `${type}\n`);
  writeFileSync(join(root, 'user_report_data'), new Uint8Array(64));
  if (quote) writeFileSync(join(root, 'quote'), quote);
  return root;
}

describe('Gramine /dev/attestation', async () => {
  const platform = await newPlatform();
  const qe = new SimQuotingEnclave(platform);
  const quote = qe.quote(platform.ereport(identity(), qe.targetInfo(), DATA));

  it('writes the report data and returns the quote, which verifies', async () => {
    const root = fakeDevAttestation('dcap', quote);
    const q = await gramineQuote({ reportData: DATA, root });
    assert.equal(q.attestationType, 'dcap');
    assert.deepEqual(new Uint8Array(readFileSync(join(root, 'user_report_data'))), DATA);
    const v = await verifyDcapQuote(q.quote, {
      collateral: await simCollateral(platform),
      trustedRoot: platform.rootCertificateDer,
    });
    assert.equal(v.status, 'UpToDate');
  });

  it('refuses a quote with other report data, other attestation types, a TDX quote, and no Gramine', async () => {
    await assert.rejects(
      gramineQuote({ reportData: new Uint8Array(64), root: fakeDevAttestation('dcap', quote) }),
      code('report-data-mismatch'),
    );
    await assert.rejects(
      gramineQuote({ reportData: DATA, root: fakeDevAttestation('none') }),
      code('unsupported-attestation-type'),
    );
    await assert.rejects(
      gramineQuote({ reportData: DATA, root: fakeDevAttestation('epid') }),
      code('unsupported-attestation-type'),
    );
    const tdx = readFileSync(new URL('dcap-qvl/tdx_quote', VECTORS));
    await assert.rejects(
      gramineQuote({ reportData: DATA, root: fakeDevAttestation('dcap', tdx) }),
      code('not-sgx'),
    );
    await assert.rejects(
      gramineQuote({ reportData: DATA, root: fakeDevAttestation('dcap', quote.subarray(0, 100)) }),
      { name: 'FormatError' },
    );
    await assert.rejects(
      gramineQuote({ reportData: DATA, root: join(tempDir('cloister-gramine-'), 'no-such-dir') }),
      code('not-gramine'),
    );
  });
});
