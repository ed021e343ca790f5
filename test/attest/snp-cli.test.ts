// `cloister attest verify` on SEV-SNP reports (the real go-sev-guest vector) and on files that are
// no evidence at all: each is named for what it is, and only a report whose VCEK chain and
// signature verify is accepted.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { runCli } from '../helpers/cli.ts';
import { VECTORS_DIR as sharedVectors } from '../attestation/helpers/vectors.ts';

const SEV = join(sharedVectors, 'go-sev-guest');
const report = join(SEV, 'attestation.bin');
const chain = ['--vcek', join(SEV, 'vcek.testcer'), '--cert-chain', join(SEV, 'milan.testcer')];
const dir = mkdtempSync(join(tmpdir(), 'cloister-snp-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function variant(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('cloister attest verify: SEV-SNP reports', () => {
  it('verifies the real report to the pinned ARK-Milan and prints its measurement', async () => {
    const r = await runCli([
      'attest',
      'verify',
      report,
      ...chain,
      '--allow-debug',
      '--at',
      '2025-07-01T00:00:00Z',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^type\s+SEV-SNP$/m);
    assert.match(
      r.stdout,
      /^measurement b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01$/m,
    );
    assert.match(r.stdout, /^verified$/m);
    assert.match(r.stderr, /a debug guest, accepted by --allow-debug/);
  });

  it('refuses a debug guest unless --allow-debug', async () => {
    const r = await runCli(['attest', 'verify', report, ...chain, '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).ok, false);
    assert.match(r.stderr, /verification failed \(debug\)/);
  });

  it('refuses a changed signed byte, a changed signature and another VCEK', async () => {
    const bytes = readFileSync(report);
    for (const [name, at] of [
      ['measurement', 0x90],
      ['report-data', 0x50],
      ['signature', 0x2a0 + 5],
    ] as const) {
      const changed = Uint8Array.from(bytes);
      changed[at] ^= 1;
      const r = await runCli(['attest', 'verify', variant(name, changed), ...chain, '--allow-debug']);
      assert.equal(r.code, 1, name);
      assert.match(r.stderr, /verification failed \(report-signature\)/, name);
      assert.doesNotMatch(r.stdout, /^verified$/m);
    }
    const askAsVcek = readFileSync(join(SEV, 'milan.testcer'), 'utf8').split('-----END CERTIFICATE-----')[0];
    const other = variant('ask.pem', Buffer.from(`${askAsVcek}-----END CERTIFICATE-----\n`));
    const r = await runCli([
      'attest',
      'verify',
      report,
      '--vcek',
      other,
      '--cert-chain',
      join(SEV, 'milan.testcer'),
      '--allow-debug',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /verification failed/);
  });

  it('says "not a quote or report" for random bytes, short files and unknown versions', async () => {
    const random = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    for (const bytes of [random, random.subarray(0, 10), new Uint8Array(0x4a0)]) {
      const r = await runCli([
        'attest',
        'verify',
        variant(`junk-${bytes.length}`, bytes),
        '--collateral',
        report,
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /verification failed \(not-evidence\): .* is not a quote or report/);
      assert.doesNotMatch(r.stderr, /key type|attestation key/);
    }
  });

  it('asks for the options each kind of evidence needs', async () => {
    const snpWithCollateral = await runCli(['attest', 'verify', report, '--collateral', report]);
    assert.equal(snpWithCollateral.code, 2);
    assert.match(snpWithCollateral.stderr, /SEV-SNP report takes --vcek and --cert-chain, not --collateral/);
    const snpAlone = await runCli(['attest', 'verify', report]);
    assert.equal(snpAlone.code, 2);
    assert.match(snpAlone.stderr, /needs --vcek FILE and --cert-chain FILE/);
    const quote = join(sharedVectors, 'dcap-qvl/sgx_quote');
    const r = await runCli(['attest', 'verify', quote]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /a DCAP quote needs --collateral FILE/);
  });
});
