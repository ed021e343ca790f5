import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import type { DcapVerifyOptions } from '../../src/attestation/verify-dcap.ts';
import { AT as PKI_AT, makePki } from './helpers/dcap-pki.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const sgxQuote = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
const tdxQuote = new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)));
const sgxColl = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const tdxColl = JSON.parse(readFileSync(new URL('tdx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const AT = new Date('2025-07-01T00:00:00Z');

async function rejects(quote: Uint8Array, options: DcapVerifyOptions, code: string): Promise<void> {
  await assert.rejects(verifyDcapQuote(quote, { at: AT, ...options }), (e: unknown) => {
    assert.ok(e instanceof VerificationError || e instanceof FormatError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at] ^= 1;
  return copy;
}

/** Flips one bit in the last byte of the signature (the end of the DER) of the i-th PEM certificate. */
function corruptPemCert(chain: string, i: number): string {
  let n = 0;
  return chain.replace(
    /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g,
    (block, body: string) => {
      if (n++ !== i) return block;
      const der = Buffer.from(body.replace(/\s/g, ''), 'base64');
      der[der.length - 1] ^= 1;
      return `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----`;
    },
  );
}

/** The real SGX quote with its certification data (type 5 at byte 1046) replaced by `pem`. */
function withPckChain(pem: string): Uint8Array {
  const chain = Buffer.from(pem);
  const head = Buffer.alloc(6);
  head.writeUInt16LE(5, 0);
  head.writeUInt32LE(chain.length, 2);
  const out = Buffer.concat([sgxQuote.subarray(0, 1046), head, chain]);
  out.writeUInt32LE(out.length - 436, 432);
  return new Uint8Array(out);
}
const sgxPem = Buffer.from(sgxQuote.subarray(1052)).toString();

/** A hex string with one bit of its last byte flipped. */
const flipHex = (hex: string): string => hex.slice(0, -1) + (parseInt(hex.slice(-1), 16) ^ 1).toString(16);

test('sanity: the rebuilt quote still verifies', async () => {
  const v = await verifyDcapQuote(withPckChain(sgxPem), { collateral: sgxColl, at: AT });
  assert.equal(v.status, 'ConfigurationAndSWHardeningNeeded');
});

test('every signature in the chain corrupted in turn (real SGX vector)', async () => {
  const c = sgxColl;
  // Certificates: PCK leaf, PCK Processor CA, and the TCB signing certificate of both signed documents.
  await rejects(withPckChain(corruptPemCert(sgxPem, 0)), { collateral: c }, 'cert-signature');
  await rejects(withPckChain(corruptPemCert(sgxPem, 1)), { collateral: c }, 'cert-signature');
  const tcbChain = corruptPemCert(c.tcb_info_issuer_chain, 0);
  await rejects(sgxQuote, { collateral: { ...c, tcb_info_issuer_chain: tcbChain } }, 'cert-signature');
  await rejects(sgxQuote, { collateral: { ...c, qe_identity_issuer_chain: tcbChain } }, 'cert-signature');
  const crlChain = corruptPemCert(c.pck_crl_issuer_chain, 0);
  await rejects(sgxQuote, { collateral: { ...c, pck_crl_issuer_chain: crlChain } }, 'cert-signature');
  // CRLs.
  await rejects(sgxQuote, { collateral: { ...c, root_ca_crl: flipHex(c.root_ca_crl) } }, 'crl-signature');
  await rejects(sgxQuote, { collateral: { ...c, pck_crl: flipHex(c.pck_crl) } }, 'crl-signature');
  // Signed JSON: the signature, or the text it covers.
  await rejects(
    sgxQuote,
    { collateral: { ...c, tcb_info_signature: flipHex(c.tcb_info_signature) } },
    'tcb-info-signature',
  );
  const tcbText = c.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18');
  await rejects(sgxQuote, { collateral: { ...c, tcb_info: tcbText } }, 'tcb-info-signature');
  const qeSig = flipHex(c.qe_identity_signature);
  await rejects(sgxQuote, { collateral: { ...c, qe_identity_signature: qeSig } }, 'qe-identity-signature');
  const qeText = c.qe_identity.replace('"isvprodid":1', '"isvprodid":2');
  await rejects(sgxQuote, { collateral: { ...c, qe_identity: qeText } }, 'qe-identity-signature');
  // Quote: QE report signature (948), QE report body (ISVSVN at 564+258), quote signature (436), body (REPORTDATA).
  await rejects(flip(sgxQuote, 948), { collateral: c }, 'qe-report-signature');
  await rejects(flip(sgxQuote, 564 + 258), { collateral: c }, 'qe-report-signature');
  await rejects(flip(sgxQuote, 436), { collateral: c }, 'quote-signature');
  await rejects(flip(sgxQuote, 48 + 320), { collateral: c }, 'quote-signature');
  await rejects(flip(sgxQuote, 2 + 8), { collateral: c }, 'quote-signature');
});

test('TDX vector: each quote-borne signature and the key binding', async () => {
  // Signature data at 636: quote signature, attestation key (700), type 6 at 764, QE report at 770,
  // QE report signature at 1154, QE auth data at 1220.
  await rejects(flip(tdxQuote, 640), { collateral: tdxColl }, 'quote-signature');
  await rejects(flip(tdxQuote, 48 + 16), { collateral: tdxColl }, 'quote-signature');
  await rejects(flip(tdxQuote, 1160), { collateral: tdxColl }, 'qe-report-signature');
  await rejects(flip(tdxQuote, 770 + 300), { collateral: tdxColl }, 'qe-report-signature');
  await rejects(flip(tdxQuote, 710), { collateral: tdxColl }, 'attestation-key-not-bound');
  await rejects(flip(tdxQuote, 1230), { collateral: tdxColl }, 'attestation-key-not-bound');
  const tcbSig = flipHex(tdxColl.tcb_info_signature);
  await rejects(tdxQuote, { collateral: { ...tdxColl, tcb_info_signature: tcbSig } }, 'tcb-info-signature');
  await rejects(tdxQuote, { collateral: { ...tdxColl, pck_crl: flipHex(tdxColl.pck_crl) } }, 'crl-signature');
});

test('attestation key or QE auth data changed: not bound by the QE report', async () => {
  await rejects(flip(sgxQuote, 500), { collateral: sgxColl }, 'attestation-key-not-bound');
  await rejects(flip(sgxQuote, 1014), { collateral: sgxColl }, 'attestation-key-not-bound');
});

test('wrong root: a root in the chain that is not the pinned one, or a foreign pinned root', async () => {
  await rejects(withPckChain(corruptPemCert(sgxPem, 2)), { collateral: sgxColl }, 'untrusted-root');
  const sim = await makePki();
  await rejects(sgxQuote, { collateral: sgxColl, trustedRoot: sim.rootDer }, 'untrusted-root');
});

test('collateral that belongs to something else', async () => {
  await rejects(sgxQuote, { collateral: { ...sgxColl, pck_crl: sgxColl.root_ca_crl } }, 'crl-issuer');
  await rejects(sgxQuote, { collateral: tdxColl }, 'crl-issuer');
  const tdxWithSgxTcb = {
    ...tdxColl,
    tcb_info: sgxColl.tcb_info,
    tcb_info_signature: sgxColl.tcb_info_signature,
  };
  await rejects(tdxQuote, { collateral: tdxWithSgxTcb }, 'tcb-info-type');
  const tdxWithSgxQe = {
    ...tdxColl,
    qe_identity: sgxColl.qe_identity,
    qe_identity_signature: sgxColl.qe_identity_signature,
  };
  await rejects(tdxQuote, { collateral: tdxWithSgxQe }, 'qe-identity-type');
  await rejects(flip(tdxQuote, 48 + 520), { collateral: tdxColl }, 'quote-signature');
});

test('malformed quotes and collateral reach the caller as format errors', async () => {
  await rejects(sgxQuote.subarray(0, 400), { collateral: sgxColl }, 'truncated');
  await rejects(sgxQuote.subarray(0, 1000), { collateral: sgxColl }, 'bad-length');
  await rejects(sgxQuote.subarray(0, 4599), { collateral: sgxColl }, 'bad-length');
  await rejects(new Uint8Array(100_000), { collateral: sgxColl }, 'oversized');
  await rejects(Uint8Array.from([...sgxQuote, 1]), { collateral: sgxColl }, 'trailing-data');
  const { pck_crl: _dropped, ...missing } = sgxColl;
  await rejects(sgxQuote, { collateral: missing }, 'bad-collateral');
  await rejects(sgxQuote, { collateral: 'nope' }, 'bad-collateral');
  await rejects(sgxQuote, { collateral: { ...sgxColl, root_ca_crl: 'zz' } }, 'bad-crl');
  await rejects(sgxQuote, { collateral: { ...sgxColl, tcb_info_issuer_chain: 'x' } }, 'bad-pem');
  const longChain = sgxColl.tcb_info_issuer_chain.repeat(5);
  await rejects(sgxQuote, { collateral: { ...sgxColl, tcb_info_issuer_chain: longChain } }, 'bad-pem');
});

// Generated chain: checks that need collateral re-signed.

async function pkiRejects(o: Parameters<typeof makePki>[0], code: string): Promise<void> {
  const p = await makePki(o);
  await rejects(p.quote, { collateral: p.collateral, trustedRoot: p.rootDer, at: PKI_AT }, code);
}

test('sim-like chain: verifies only when its root is trusted', async () => {
  const p = await makePki();
  const v = await verifyDcapQuote(p.quote, { collateral: p.collateral, trustedRoot: p.rootDer, at: PKI_AT });
  assert.equal(v.status, 'UpToDate');
  await rejects(p.quote, { collateral: p.collateral, at: PKI_AT }, 'untrusted-root');
});

test('revoked PCK certificate', () => pkiRejects({ revokePck: true }, 'cert-revoked'));

test('an issuer that is not a CA, or a root whose path length is exceeded', async () => {
  await pkiRejects({ pckCaNotCa: true }, 'cert-not-ca');
  await pkiRejects({ rootPathLength: 0 }, 'cert-not-ca');
});

test('TCB info expired, or for another FMSPC', async () => {
  await pkiRejects({ tcbNextUpdate: new Date('2025-05-31T00:00:00Z') }, 'tcb-info-expired');
  await pkiRejects({ tcbInfoFmspc: '00906ed50001' }, 'tcb-info-fmspc');
});

test('QE identity mismatch: MRSIGNER, ISVPRODID, debug QE; QE SVN below every level', async () => {
  await pkiRejects({ qeIdentityMrSigner: '00'.repeat(32) }, 'qe-identity-mismatch');
  await pkiRejects({ qeIsvProdId: 2 }, 'qe-identity-mismatch');
  await pkiRejects({ qeAttributes: '13000000000000000700000000000000' }, 'qe-identity-mismatch');
  await pkiRejects({ qeIsvSvn: 5 }, 'qe-tcb-not-found');
});

test('attestation key not bound in the QE report', () =>
  pkiRejects({ unboundAttestationKey: true }, 'attestation-key-not-bound'));

test('TCB levels: none met, revoked, and the QE status folded in', async () => {
  const levels = (status: string, svn: number, advisoryIDs: string[] = []): object[] => [
    {
      tcb: { sgxtcbcomponents: Array.from({ length: 16 }, () => ({ svn })), pcesvn: 1 },
      tcbDate: '2024-01-01T00:00:00Z',
      tcbStatus: status,
      advisoryIDs,
    },
  ];
  await pkiRejects({ tcbLevels: levels('UpToDate', 200) }, 'tcb-level-not-found');
  await pkiRejects({ tcbLevels: levels('Revoked', 0) }, 'tcb-revoked');
  // A status this verifier does not know: refused if matched, harmless on a level not reached.
  await pkiRejects({ tcbLevels: levels('SomethingNew', 0) }, 'tcb-status-unknown');
  const future = await makePki({ tcbLevels: [...levels('SomethingNew', 200), ...levels('UpToDate', 0)] });
  const fv = await verifyDcapQuote(future.quote, {
    collateral: future.collateral,
    trustedRoot: future.rootDer,
    at: PKI_AT,
  });
  assert.equal(fv.status, 'UpToDate');
  const outdatedQe = await makePki({
    qeIsvSvn: 7,
    tcbLevels: levels('ConfigurationNeeded', 0, ['INTEL-SA-00002']),
  });
  const v = await verifyDcapQuote(outdatedQe.quote, {
    collateral: outdatedQe.collateral,
    trustedRoot: outdatedQe.rootDer,
    at: PKI_AT,
  });
  assert.equal(v.status, 'OutOfDateConfigurationNeeded');
  assert.deepEqual(v.advisoryIds, ['INTEL-SA-00002', 'INTEL-SA-00615']);
  // The platform below its top level: the second default level.
  const old = await makePki({ cpuSvn: [4, 5, 2, 2, 4, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0] });
  const oldV = await verifyDcapQuote(old.quote, {
    collateral: old.collateral,
    trustedRoot: old.rootDer,
    at: PKI_AT,
  });
  assert.equal(oldV.status, 'OutOfDate');
  assert.deepEqual(oldV.advisoryIds, ['INTEL-SA-00001']);
});
