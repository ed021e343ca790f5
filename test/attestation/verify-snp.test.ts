import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError, toHex } from '../../src/attestation/bytes.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { INTEL_SGX_ROOT_CA_DER } from '../../src/attestation/verify-dcap.ts';
import { verifySnpReport } from '../../src/attestation/verify-snp.ts';
import type { SnpVerifyOptions } from '../../src/attestation/verify-snp.ts';
import { SNP_AT, makeSnpPki } from './helpers/snp-pki.ts';
import type { SnpPkiOptions } from './helpers/snp-pki.ts';
import { VECTORS } from './helpers/vectors.ts';

const SEV = new URL('go-sev-guest/', VECTORS);
const report = new Uint8Array(readFileSync(new URL('attestation.bin', SEV)));
const vcek = new Uint8Array(readFileSync(new URL('vcek.testcer', SEV)));
const bundle = readFileSync(new URL('milan.testcer', SEV), 'utf8');
const [askPem, arkPem] = (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ??
  []) as [string, string];
const AT = new Date('2025-07-01T00:00:00Z');
const base: SnpVerifyOptions = { vcek, caChainPem: bundle, at: AT };

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VerificationError || e instanceof FormatError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** A PEM certificate with one byte of its signature (the DER's last byte) changed. */
function corruptPem(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der[der.length - 1] ^= 1;
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
}

test('SNP report v2 verifies against its VCEK and the ASK/ARK chain (ARK pinned in the product)', async () => {
  const v = await verifySnpReport(report, base);
  assert.equal(v.report.version, 2);
  assert.equal(toHex(v.report.reportData.subarray(0, 5)), '0102030405');
  // The ASK alone is enough: the ARK is the pinned one.
  await verifySnpReport(report, { ...base, caChainPem: askPem });
});

test('a changed report byte breaks the report signature', async () => {
  for (const at of [0x50, 0x90, 0x1a0, 0x29f]) {
    const bad = Uint8Array.from(report);
    bad[at] ^= 1;
    await rejects(verifySnpReport(bad, base), 'report-signature');
  }
  const badSig = Uint8Array.from(report);
  badSig[0x2a0] ^= 1;
  await rejects(verifySnpReport(badSig, base), 'report-signature');
  const highBits = Uint8Array.from(report);
  highBits[0x2a0 + 60] = 1;
  await rejects(verifySnpReport(highBits, base), 'report-signature');
});

test('each certificate signature corrupted in turn', async () => {
  const badVcek = Uint8Array.from(vcek);
  badVcek[badVcek.length - 1] ^= 1;
  await rejects(verifySnpReport(report, { ...base, vcek: badVcek }), 'cert-signature');
  await rejects(
    verifySnpReport(report, { ...base, caChainPem: corruptPem(askPem) + arkPem }),
    'cert-signature',
  );
  // A modified ARK in the bundle is not the pinned root.
  await rejects(
    verifySnpReport(report, { ...base, caChainPem: askPem + corruptPem(arkPem) }),
    'untrusted-root',
  );
});

test('wrong root, missing ASK, expired chain', async () => {
  const intelRoot = `-----BEGIN CERTIFICATE-----\n${Buffer.from(INTEL_SGX_ROOT_CA_DER).toString('base64')}\n-----END CERTIFICATE-----`;
  await rejects(
    verifySnpReport(report, { ...base, trustedArk: intelRoot, caChainPem: askPem }),
    'untrusted-root',
  );
  await rejects(verifySnpReport(report, { ...base, caChainPem: arkPem }), 'chain-incomplete');
  await rejects(verifySnpReport(report, { ...base, at: new Date('2030-01-01T00:00:00Z') }), 'cert-expired');
  await rejects(verifySnpReport(report, { ...base, at: new Date('2021-01-01T00:00:00Z') }), 'cert-expired');
});

test('hostile report bytes', async () => {
  await rejects(verifySnpReport(report.subarray(0, 1000), base), 'bad-length');
  const algo = Uint8Array.from(report);
  algo[0x34] = 2;
  await rejects(verifySnpReport(algo, base), 'unsupported-signature');
});

// Generated AMD-format chain: checks the real vector cannot reach without AMD's keys.

async function generated(o: SnpPkiOptions, code?: string, crl = false): Promise<void> {
  const p = await makeSnpPki(o);
  const run = verifySnpReport(p.report, {
    vcek: p.vcek,
    caChainPem: p.askPem + p.arkPem,
    trustedArk: p.arkPem,
    at: SNP_AT,
    arkCrl: crl ? p.crl : undefined,
  });
  if (code === undefined) await run;
  else await rejects(run, code);
}

test('generated chain: verifies, with and without the ARK CRL', async () => {
  await generated({});
  await generated({}, undefined, true);
  await generated({ reportChipId: new Uint8Array(64) }); // MASK_CHIP_ID: the chip id reads as zeros
});

test('generated chain: ASK revoked by the ARK CRL', () =>
  generated({ revokeAsk: true }, 'cert-revoked', true));

test('generated chain: REPORTED_TCB or CHIP_ID not those the VCEK was issued for', async () => {
  const tcb = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
  await generated({ reportTcb: { ...tcb, microcode: 114 } }, 'vcek-mismatch');
  await generated({ reportTcb: { ...tcb, snp: 9 } }, 'vcek-mismatch');
  await generated({ reportChipId: new Uint8Array(64).fill(0xc2) }, 'vcek-mismatch');
});

test('ARK CRL from another issuer, or not a CRL', async () => {
  const p = await makeSnpPki();
  const options = { vcek, caChainPem: bundle, at: AT };
  await rejects(verifySnpReport(report, { ...options, arkCrl: p.crl }), 'crl-issuer');
  await rejects(verifySnpReport(report, { ...options, arkCrl: new Uint8Array([1, 2, 3]) }), 'bad-crl');
});
