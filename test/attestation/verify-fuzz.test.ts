import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { verifyDcapCollateral } from '../../src/attestation/dcap-collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { verifySnpReport } from '../../src/attestation/verify-snp.ts';

const DCAP = new URL('../../../shared/attestation-vectors/dcap-qvl/', import.meta.url);
const SEV = new URL('../../../shared/attestation-vectors/go-sev-guest/', import.meta.url);
const AT = new Date('2025-07-01T00:00:00Z');

let seed = 12345;
const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;

/** The only acceptable outcomes: a verdict, or one of our two error types. */
async function outcome(p: Promise<unknown>): Promise<'ok' | string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof FormatError || e instanceof VerificationError, `unexpected ${String(e)}`);
    return e.code;
  }
}

test('random damage to quotes gives a verdict or a coded error, never a crash', async () => {
  for (const kind of ['sgx', 'tdx']) {
    const quote = new Uint8Array(readFileSync(new URL(`${kind}_quote`, DCAP)));
    const raw = JSON.parse(
      readFileSync(new URL(`${kind}_quote_collateral.json`, DCAP), 'utf8'),
    ) as Collateral;
    const collateral = await verifyDcapCollateral(raw, { at: AT });
    const codes = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const copy = Uint8Array.from(quote);
      copy[rand(copy.length)] ^= 1 << rand(8);
      codes.add(await outcome(verifyDcapQuote(copy, { collateral, at: AT })));
    }
    // Most single-bit flips break a signature; the rest land in padding, PEM whitespace or unused fields.
    assert.ok(codes.size >= 3, [...codes].join());
  }
});

test('random damage to collateral text gives a coded error', async () => {
  const quote = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
  const raw = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
  const fields = Object.keys(raw) as (keyof Collateral)[];
  for (let i = 0; i < 120; i++) {
    const field = fields[rand(fields.length)];
    const text = raw[field];
    const at = rand(text.length);
    const damaged = {
      ...raw,
      [field]: text.slice(0, at) + String.fromCharCode(rand(128)) + text.slice(at + 1),
    };
    await outcome(verifyDcapQuote(quote, { collateral: damaged, at: AT }));
  }
});

test('random damage to an SNP report or its VCEK gives a coded error', async () => {
  const report = new Uint8Array(readFileSync(new URL('attestation.bin', SEV)));
  const vcek = new Uint8Array(readFileSync(new URL('vcek.testcer', SEV)));
  const caChainPem = readFileSync(new URL('milan.testcer', SEV), 'utf8');
  for (let i = 0; i < 100; i++) {
    const r = Uint8Array.from(report);
    const v = Uint8Array.from(vcek);
    if (i % 2) r[rand(r.length)] ^= 1 << rand(8);
    else v[rand(v.length)] ^= 1 << rand(8);
    await outcome(verifySnpReport(r, { vcek: v, caChainPem, at: AT }));
  }
});
