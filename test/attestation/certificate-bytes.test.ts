// The strict X.509 reader (certificate.ts) on every real certificate and CRL of the shared vectors:
// it reads the same fields as @peculiar/x509 (an independent parser), refuses every truncation, a
// trailing byte and a non-minimal length, and a flipped bit in any byte of a real Intel certificate
// is refused by parsing or by the chain check — never accepted as another certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BasicConstraintsExtension, X509Certificate, X509Crl } from '@peculiar/x509';
import { FormatError, toHex } from '../../src/attestation/bytes.ts';
import { Certificate, Crl } from '../../src/attestation/certificate.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { clearMemos } from '../../src/attestation/memo.ts';
import { parseQuote } from '../../src/attestation/quote.ts';
import { parseCert, verifyChain } from '../../src/attestation/x509-chain.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const SEV = new URL('go-sev-guest/', VECTORS);
const AT = new Date('2025-07-01T00:00:00Z');
const root = new Uint8Array(readFileSync(new URL('TrustedRootCA.der', DCAP)));

function pemDers(pem: string): Uint8Array[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')),
  );
}

/** Intel's certificates: each quote's PCK chain and each collateral's issuer chains, as DER chains (leaf first). */
const intelChains: Uint8Array[][] = [];
const crls: Uint8Array[] = [];
for (const kind of ['sgx', 'tdx']) {
  const quote = parseQuote(new Uint8Array(readFileSync(new URL(`${kind}_quote`, DCAP))));
  intelChains.push(pemDers(quote.certification.pckChainPem));
  const c = JSON.parse(readFileSync(new URL(`${kind}_quote_collateral.json`, DCAP), 'utf8')) as Collateral;
  for (const pem of [c.pck_crl_issuer_chain, c.tcb_info_issuer_chain, c.qe_identity_issuer_chain])
    intelChains.push(pemDers(pem));
  crls.push(Buffer.from(c.root_ca_crl, 'hex'), Buffer.from(c.pck_crl, 'hex'));
}
const amd = [
  ...pemDers(readFileSync(new URL('milan.testcer', SEV), 'utf8')),
  new Uint8Array(readFileSync(new URL('vcek.testcer', SEV))),
];
const distinct = (list: Uint8Array[]): Uint8Array[] => [...new Map(list.map((d) => [toHex(d), d])).values()];
const allCerts = distinct([root, ...intelChains.flat(), ...amd]);
const allCrls = distinct(crls);

test('every real certificate reads as @peculiar/x509 reads it', () => {
  assert.ok(allCerts.length >= 7, `${allCerts.length} certificates`);
  for (const der of allCerts) {
    const ours = new Certificate(der, 'vector');
    const theirs = new X509Certificate(Uint8Array.from(der));
    assert.equal(ours.subject.toString(), theirs.subject);
    assert.equal(ours.issuer.toString(), theirs.issuer);
    assert.equal(ours.serialHex.replace(/^(00)+(?=.)/, ''), theirs.serialNumber.toLowerCase());
    assert.equal(ours.notBefore.getTime(), theirs.notBefore.getTime());
    assert.equal(ours.notAfter.getTime(), theirs.notAfter.getTime());
    assert.equal(toHex(ours.spki), toHex(new Uint8Array(theirs.publicKey.rawData)));
    // The key as node:crypto holds it (P-256 points go in as JWK) is the certificate's own.
    assert.equal(toHex(ours.publicKey.export({ format: 'der', type: 'spki' })), toHex(ours.spki));
    assert.deepEqual(
      [...ours.extensions].map(([oid, e]) => [oid, e.critical, toHex(e.value)]),
      [...theirs.extensions].map((e) => [e.type, e.critical, toHex(new Uint8Array(e.value))]),
    );
    const bc = theirs.getExtension(BasicConstraintsExtension);
    assert.deepEqual(
      ours.basicConstraints('vector'),
      bc === null ? undefined : { ca: bc.ca, pathLength: bc.pathLength },
    );
  }
});

test('every real CRL reads as @peculiar/x509 reads it', () => {
  for (const der of allCrls) {
    const ours = new Crl(der, 'vector');
    const theirs = new X509Crl(Uint8Array.from(der));
    assert.equal(ours.issuer.toString(), theirs.issuer);
    assert.equal(ours.thisUpdate.getTime(), theirs.thisUpdate.getTime());
    assert.equal(ours.nextUpdate?.getTime(), theirs.nextUpdate?.getTime());
    const serial = (hex: string): string => hex.toLowerCase().replace(/^(00)+(?=.)/, '');
    assert.deepEqual(
      ours.revokedSerials.map(serial).sort(),
      theirs.entries.map((e) => serial(e.serialNumber)).sort(),
    );
  }
});

test('truncated at every length, a trailing byte, or a non-minimal outer length: refused', () => {
  const cases: [Uint8Array, (d: Uint8Array) => unknown, string][] = [
    ...allCerts.map((d): [Uint8Array, (d: Uint8Array) => unknown, string] => [
      d,
      (x) => new Certificate(x, 't'),
      'bad-certificate',
    ]),
    ...allCrls.map((d): [Uint8Array, (d: Uint8Array) => unknown, string] => [
      d,
      (x) => new Crl(x, 't'),
      'bad-crl',
    ]),
  ];
  const refused = (read: () => unknown, code: string, what: string): void =>
    assert.throws(read, (e: unknown) => e instanceof FormatError && e.code === code, what);
  for (const [der, read, code] of cases) {
    read(der);
    for (let n = 0; n < der.length; n++) refused(() => read(der.subarray(0, n)), code, `first ${n} bytes`);
    refused(() => read(Uint8Array.from([...der, 0])), code, 'a trailing byte');
    // 30 82 hi lo -> 30 83 00 hi lo: the same value with a longer length than DER allows.
    assert.equal(der[1], 0x82);
    refused(() => read(Uint8Array.from([0x30, 0x83, 0, ...der.subarray(2)])), code, 'a long length');
  }
});

test('a flipped bit in any byte of a real Intel certificate is refused', async () => {
  const trustedRoot = parseCert(root, 'root');
  let checked = 0;
  for (const chain of intelChains) {
    const full = await verifyChain(
      chain.map((d) => parseCert(d, 'chain')),
      trustedRoot,
      AT,
      'vector',
    );
    assert.ok(full.length >= 2);
    // Each certificate below the root, changed in place; the root is pinned by its bytes.
    for (let k = 0; k < chain.length; k++) {
      if (toHex(chain[k]) === toHex(root)) continue;
      for (let i = 0; i < chain[k].length; i++) {
        const changed = Uint8Array.from(chain[k]);
        changed[i] ^= 1 << (i % 8);
        const links = chain.map((d, j) => (j === k ? changed : d));
        await assert.rejects(
          async () =>
            verifyChain(
              links.map((d) => parseCert(d, 'chain')),
              trustedRoot,
              AT,
              'vector',
            ),
          (e: unknown) => e instanceof FormatError || e instanceof VerificationError,
          `certificate ${k}, byte ${i}`,
        );
        checked++;
      }
      clearMemos();
    }
  }
  assert.ok(checked > 5000, `${checked} changes`);
});
